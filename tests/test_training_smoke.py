"""One-epoch training runs on a handful of real clips: export, parity, reports.

Full training stays out of CI; these runs prove the pipeline end to end.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training extra not installed (pip install -e .[train])")

from livesense.model import EmotionModel  # noqa: E402
from training.__main__ import main  # noqa: E402


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


def test_cross_corpus_smoke(datasets, tmp_path):
    """The ensemble's evaluation also reports its members, trained as on their own; a
    seed other than 0 names its reports, so that they sit beside the reference run's."""
    code = main(["evaluate", "cross-corpus", "--arch", "ensemble", "--data", str(datasets), "--epochs", "1",
                 "--clips-per-speaker", "1", "--speakers-per-corpus", "3", "--seed", "1", "--runs", str(tmp_path / "runs")])
    assert code == 0
    reports = tmp_path / "runs" / "reports"
    assert not list(reports.glob("cross-corpus-ensemble.json"))
    for name in ("ensemble", "cnn", "logreg"):
        report = json.loads((reports / f"cross-corpus-{name}-seed1.json").read_text())
        assert report["fit_options"]["seed"] == 1
        assert report["model"] == name and ("member" in report["command"]) == (name != "ensemble")
        assert [f["name"] for f in report["folds"]] == ["held-out-tess", "held-out-ravdess", "held-out-cremad"]
        for fold in report["folds"]:
            held = fold["name"].removeprefix("held-out-")
            assert all(s.startswith(held + "/") for s in fold["test_speakers"])
            assert set(fold["conditions"]) == {"calibrated", "no_profile", "global"}
        assert 0 <= report["summary"]["calibrated"]["pooled"]["ua"] <= 1
        assert (reports / f"cross-corpus-{name}-seed1-calibrated-confusion.png").stat().st_size > 5000
        assert (reports / f"cross-corpus-{name}-seed1-curves.png").exists()


def test_clip_baseline_smoke(datasets, tmp_path):
    code = main(["baseline", "--data", str(datasets), "--clips-per-speaker", "2", "--speakers-per-corpus", "3",
                 "--runs", str(tmp_path / "runs")])
    assert code == 0
    report = json.loads((tmp_path / "runs" / "reports" / "cross-corpus-clip-logreg.json").read_text())
    for variant in ("clip", "windows"):
        folds = report["summary"][variant]["fold_ua"]
        assert set(folds) == {"held-out-tess", "held-out-ravdess", "held-out-cremad"}
        assert all(0 <= ua <= 1 for ua in folds.values())


def test_unknown_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "tess-random", "--data", str(tmp_path), "--runs", str(tmp_path / "r")]) == 2
    assert "not a directory" in capsys.readouterr().err
