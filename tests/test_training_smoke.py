"""One-epoch training runs on a handful of real clips: export, parity, reports.

Full training stays out of CI; these runs prove the pipeline end to end.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training extra not installed (pip install -e .[train])")

from livesense.features import FeatureConfig  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402
from livesense.normalization import PRIOR_FRAMES  # noqa: E402
from training.__main__ import main  # noqa: E402
from training.channels import CHANNEL_PANEL  # noqa: E402
from training.data import load_clips  # noqa: E402
from training.protocols import PROTOCOLS  # noqa: E402


@pytest.mark.parametrize("arch", ["cnn", "bilstm", "logreg", "ensemble"])
def test_train_export_and_load(datasets, tmp_path, arch):
    out = tmp_path / f"{arch}.onnx"
    code = main(["train", "--arch", arch, "--data", str(datasets), "--corpora", "tess,cremad", "--epochs", "1",
                 "--clips-per-speaker", "2", "--speakers-per-corpus", "3", "--runs", str(tmp_path / "runs"),
                 "--out", str(out)])
    assert code == 0
    record = json.loads(out.with_suffix(".train.json").read_text())
    assert record["parity_max_abs_diff"] < 1e-4
    model = EmotionModel(out)
    assert model.labels == ["angry", "disgust", "fear", "happy", "neutral", "sad"]
    assert set(model.info.corpora) == {"tess", "cremad"}
    assert model.info.normalization == "speaker"
    frames, dims = model.features.frames_per_window, model.features.n_features
    probs = model.predict(np.zeros((2, frames, dims), np.float32))
    assert probs.shape == (2, 6) and np.allclose(probs.sum(1), 1, atol=1e-5)


def _assert_scores_match_confusion(scores: dict) -> None:
    """Accuracy, UA (over the classes present) and per-class recall as recomputed from the confusion matrix."""
    confusion = np.array(scores["confusion"])
    support = confusion.sum(axis=1)
    recall = np.diag(confusion) / np.maximum(support, 1)
    assert scores["n"] == confusion.sum()
    assert scores["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert scores["ua"] == pytest.approx(recall[support > 0].mean())
    assert [c["recall"] for c in scores["per_class"].values()] == pytest.approx(recall)
    assert [c["support"] for c in scores["per_class"].values()] == support.tolist()


def test_robustness_experiments_reach_the_exported_model(datasets, tmp_path):
    """The recording-robustness options (off by default) train and export: channel
    copies are other windows than gain/noise copies, and the metadata carries the
    features, the level prior and the voice head to the runtime, which runs them."""
    from training.data import TrainingData
    from training.corpora import SIX_CLASSES

    out = tmp_path / "cnn.onnx"
    code = main(["train", "--arch", "cnn", "--data", str(datasets), "--corpora", "tess,cremad", "--epochs", "1",
                 "--clips-per-speaker", "1", "--speakers-per-corpus", "2", "--runs", str(tmp_path / "runs"),
                 "--out", str(out), "--copies", "channels", "--cold-copies", "--level-prior-frames", "0",
                 "--relative-level", "--copy-stats", "--voice-head"])
    assert code == 0
    model = EmotionModel(out)
    assert model.features.relative_level and model.info.level_prior_frames == 0
    head = model.info.voice_head
    assert [(c.start, c.stop, c.weights.shape) for c in head.classifiers] == [(0, 256, (6, 256)), (256, 768, (6, 512))]
    assert abs(head.model_weight - 0.4) < 1e-9
    assert 0.5 < np.linalg.norm(head.mean[:256]) < 1.0  # the mean of non-negative unit vectors of several voices
    assert np.all(head.classifiers[0].scale == 1.0) and np.all(head.classifiers[1].scale > 0)
    from livesense.audio import read_audio
    from livesense.engine import StreamEngine

    engine = StreamEngine(model, batch=8)
    results = engine.feed(read_audio(datasets / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac")) + engine.finish()
    assert any(r.is_speech for r in results)
    loaded = {copies: TrainingData.load(datasets, ("cremad",), SIX_CLASSES, model.features, tmp_path / "runs" / "cache",
                                        1, 1, copies) for copies in ("gain-noise", "channels")}
    clip = loaded["channels"].clips[0].path
    plain, channel = loaded["gain-noise"].windows[clip], loaded["channels"].windows[clip]
    assert np.array_equal(plain.windows[0], channel.windows[0])  # the originals
    assert not np.array_equal(plain.windows[1], channel.windows[1])


def test_voice_head_cold_shifts_even_out_labels_on_corpora_left_out(datasets, tmp_path):
    """A classifier's cold shift is measured on what it does, fitted without a corpus, on
    that corpus: with it, the clips of the corpora left out, each alone, are spread
    evenly over the labels (averaged over those corpora); a head of one corpus has none."""
    from livesense.voice import RunningVoice
    from training.corpora import SIX_CLASSES, subsample
    from training.voice import PRIOR_WINDOWS, _cold_shifts, _fit, _voice_features, fit_voice_head

    labels, config = list(SIX_CLASSES), FeatureConfig()
    clips = subsample(load_clips(datasets, ("tess", "ravdess", "cremad"), SIX_CLASSES)[0], 2, 2)
    voice = _voice_features(clips, config, tmp_path)
    shifts = _cold_shifts(clips, voice, labels, 0)
    head, plain = fit_voice_head(clips, labels, config, tmp_path, 0), _fit(clips, voice, labels, 0)
    for shifted, unshifted, shift in zip(head.classifiers, plain.classifiers, shifts, strict=True):
        np.testing.assert_array_equal(shifted.bias, unshifted.bias)
        np.testing.assert_allclose(shifted.cold_shift, shift)
        assert abs(shift.sum()) < 1e-9 and np.ptp(shift) > 0.1 and not unshifted.cold_shift.any()
    shares = {"without": np.zeros((2, 6)), "with": np.zeros((2, 6))}  # classifier, label
    for corpus in ("tess", "ravdess", "cremad"):
        inner = _fit([c for c in clips if c.corpus != corpus], voice, labels, 0)
        held = [voice[c.path] for c in clips if c.corpus == corpus]
        for k, (classifier, shift) in enumerate(zip(inner.classifiers, shifts)):
            for when, cold_shift in (("without", classifier.cold_shift), ("with", shift)):
                cold = replace(classifier, cold_shift=cold_shift)
                verdicts = [cold.probabilities(*RunningVoice(inner.mean, PRIOR_WINDOWS).centre(x)).mean(axis=0).argmax()
                            for x in held]
                shares[when][k] += np.bincount(verdicts, minlength=6) / len(held) / 3
    assert np.all(shares["without"].max(axis=1) > 0.2) and np.all(shares["with"].max(axis=1) < 0.2), shares
    tess = [c for c in clips if c.corpus == "tess"]
    assert not any(c.cold_shift.any() for c in fit_voice_head(tess, labels, config, tmp_path, 0).classifiers)


def test_copy_statistics_are_a_speakers_statistics_through_that_copy(datasets, tmp_path):
    """Of the originals, what the runtime's running statistics converge to (the
    speaker statistics training normalises by); of the -6 dB copy (with noise at
    25 dB SNR), a level term lower by 2 to 8 dB (c0 is sqrt(n_mels) times the mean
    log mel energy; bands at the energy floor or filled by the noise drop less)."""
    from training.corpora import SIX_CLASSES
    from training.data import TrainingData
    from training.fit import copy_statistics

    config = FeatureConfig()
    data = TrainingData.load(datasets, ("ravdess",), SIX_CLASSES, config, tmp_path / "cache", 2, 2)
    items = data.windows_of(data.clips)
    originals, quieter = copy_statistics(items, 0), copy_statistics(items, 1)
    assert set(originals) == set(data.all_speech) == {c.speaker for c in data.clips}
    for speaker, stats in originals.items():
        np.testing.assert_allclose(stats.mean, data.all_speech[speaker].mean, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(stats.std, data.all_speech[speaker].std, rtol=1e-4, atol=1e-4)
        drop = stats.mean[0] - quieter[speaker].mean[0]
        per_db = np.sqrt(config.n_mels) * np.log(10) / 10
        assert 2 * per_db < drop < 8 * per_db


def test_cross_corpus_smoke(datasets, tmp_path):
    """The ensemble's evaluation also reports its members, trained as on their own; a
    seed other than 0 names its reports, so that they sit beside the reference run's.
    Every loaded clip is tested once, in its corpus's fold, and scored under its own label."""
    code = main(["evaluate", "cross-corpus", "--arch", "ensemble", "--data", str(datasets), "--epochs", "1",
                 "--clips-per-speaker", "1", "--speakers-per-corpus", "3", "--seed", "1", "--runs", str(tmp_path / "runs")])
    assert code == 0
    protocol = PROTOCOLS["cross-corpus"]
    clips, _ = load_clips(datasets, protocol.corpora, protocol.labels, 1, 3)
    per_label = Counter(c.emotion for c in clips)
    reports = tmp_path / "runs" / "reports"
    assert not list(reports.glob("cross-corpus-ensemble.json"))
    for name in ("ensemble", "cnn", "logreg"):
        report = json.loads((reports / f"cross-corpus-{name}-seed1.json").read_text())
        assert report["fit_options"]["seed"] == 1
        assert report["model"] == name and ("member" in report["command"]) == (name != "ensemble")
        assert [f["name"] for f in report["folds"]] == ["held-out-tess", "held-out-ravdess", "held-out-cremad"]
        for fold in report["folds"]:
            held = [c for c in clips if c.corpus == fold["name"].removeprefix("held-out-")]
            assert fold["test_speakers"] == sorted({c.speaker for c in held})
            assert fold["n_test_clips"] == len(held)
            assert fold["n_train_clips"] + fold["n_val_clips"] == len(clips) - len(held)
            assert set(fold["conditions"]) == {"calibrated", "no_profile", "global"}
            # Through the runtime: every held-out clip, alone and in its speaker's session.
            runtime = fold["runtime"]
            for mode in ("cold", "session"):
                assert runtime["clean"][mode]["n"] == len(held)
                _assert_scores_match_confusion(runtime["clean"][mode])
            assert list(runtime["gain"]) == ["-30", "-20", "-10", "+0", "+6"]
            assert list(runtime["channel"]) == list(CHANNEL_PANEL)
            # One clip per emotion gives a take too short to calibrate: refused, as calibrate refuses it.
            assert runtime["clean"]["calibrated"] is None
            assert set(runtime["clean"]["calibration"]["refused"]) == set(fold["test_speakers"])
        for condition, summary in report["summary"].items():
            pooled = summary["pooled"]
            _assert_scores_match_confusion(pooled)
            assert Counter(dict(zip(protocol.labels, np.sum(pooled["confusion"], axis=1).tolist()))) == per_label
            assert summary["fold_mean_ua"] == pytest.approx(np.mean([f["conditions"][condition]["ua"]
                                                                     for f in report["folds"]]))
        assert (reports / f"cross-corpus-{name}-seed1-calibrated-confusion.png").stat().st_size > 5000
        assert (reports / f"cross-corpus-{name}-seed1-curves.png").exists()
        assert (reports / f"cross-corpus-{name}-seed1-robustness.png").stat().st_size > 5000
        by_mode = report["runtime"]["by_mode"]
        assert by_mode["cold"]["fold_mean_ua"] == pytest.approx(
            np.mean([f["runtime"]["clean"]["cold"]["ua"] for f in report["folds"]]))
    # The fold models are kept: scored again with the level prior they were trained
    # with (that of every term, 500 frames), they give the evaluation's figures.
    assert main(["rescore", "cross-corpus", "--arch", "ensemble", "--data", str(datasets), "--clips-per-speaker", "1",
                 "--speakers-per-corpus", "3", "--seed", "1", "--runs", str(tmp_path / "runs"),
                 "--level-prior-frames", str(PRIOR_FRAMES)]) == 0
    rescored = json.loads((reports / f"cross-corpus-ensemble-seed1-level-prior-{PRIOR_FRAMES}.json").read_text())
    evaluated = json.loads((reports / "cross-corpus-ensemble-seed1.json").read_text())
    for mode in ("cold", "session"):
        assert rescored["runtime"]["ensemble"]["by_mode"][mode] == evaluated["runtime"]["by_mode"][mode]
    assert set(rescored["runtime"]) == {"ensemble", "cnn", "logreg"}
    # Every mode, into the reports: each member's report now carries these results, and says how they were made.
    assert main(["rescore", "cross-corpus", "--arch", "ensemble", "--data", str(datasets), "--clips-per-speaker", "1",
                 "--speakers-per-corpus", "3", "--seed", "1", "--runs", str(tmp_path / "runs"),
                 "--level-prior-frames", "0", "--modes", "cold,session,calibrated,calibrated_adaptive",
                 "--update-reports"]) == 0
    rescored = json.loads((reports / "cross-corpus-ensemble-seed1-level-prior-0.json").read_text())
    for name in ("ensemble", "cnn", "logreg"):
        updated = json.loads((reports / f"cross-corpus-{name}-seed1.json").read_text())
        assert "--level-prior-frames 0" in updated["runtime"].pop("note")
        assert updated["runtime"] == rescored["runtime"][name]
    # A voice head fitted per fold, mixed into the ensemble alone.
    assert main(["rescore", "cross-corpus", "--data", str(datasets), "--clips-per-speaker", "1",
                 "--speakers-per-corpus", "3", "--seed", "1", "--runs", str(tmp_path / "runs"),
                 "--level-prior-frames", "0", "--voice-head", "--models", "ensemble", "--modes", "cold"]) == 0
    voiced = json.loads((reports / "cross-corpus-ensemble-seed1-level-prior-0-voice.json").read_text())
    assert voiced["voice_head"] is True and set(voiced["runtime"]) == {"ensemble"}
    assert voiced["runtime"]["ensemble"]["by_mode"]["cold"]["fold_mean_ua"] is not None


def test_clip_baseline_smoke(datasets, tmp_path):
    code = main(["baseline", "--data", str(datasets), "--clips-per-speaker", "2", "--speakers-per-corpus", "3",
                 "--runs", str(tmp_path / "runs")])
    assert code == 0
    report = json.loads((tmp_path / "runs" / "reports" / "cross-corpus-clip-logreg.json").read_text())
    assert report["features"] == FeatureConfig(pitch=False).to_dict()  # the new-voices issue's features
    for variant in ("clip", "windows"):
        summary = report["summary"][variant]
        assert set(summary["fold_ua"]) == {"held-out-tess", "held-out-ravdess", "held-out-cremad"}
        assert summary["fold_mean_ua"] == pytest.approx(np.mean(list(summary["fold_ua"].values())))


def test_unknown_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "tess-random", "--data", str(tmp_path), "--runs", str(tmp_path / "r")]) == 2
    assert "not a directory" in capsys.readouterr().err
