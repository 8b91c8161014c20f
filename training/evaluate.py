"""Running an evaluation protocol: train per fold, score held-out clips, write JSON and PNGs.

Test speakers are scored under three normalisations of their windows (see
``CONDITIONS``), since at run time a user either has a calibration profile or
not; protocols with ``runtime`` also score each fold's models exported to ONNX
through the runtime itself, in the modes users meet (:mod:`training.streamed`).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from livesense.audio import read_audio
from livesense.features import FeatureConfig
from livesense.model import EmotionModel
from livesense.normalization import FeatureStats

from .channels import CHANNEL_PANEL
from .corpora import LICENSES, Clip, CorpusError
from .data import TrainingData, load_clips, validation_split
from .dataset import WINDOWS_VERSION
from .export import export_onnx
from .fit import FitOptions, FitResult, fit, predict_clips, window_arrays
from .metrics import plot_confusion, plot_curves, plot_robustness, scores
from .protocols import PROTOCOLS, report_stem
from .streamed import GAINS_DB, MODES, HeldOut, runtime_protocols
from .train import model_info
from .voice import fit_voice_head

CONDITIONS = {
    "calibrated": "each test speaker normalised by the statistics of their own neutral clips (a calibration profile; "
                  "for models referenced to all speech, adjusted by the training speakers' average neutral-to-all shift)",
    "no_profile": "each test speaker normalised by the statistics of all their clips (what running statistics converge to over a session)",
    "global": "every test speaker normalised by the training speakers' pooled statistics",
}
AGE_BANDS = ((20, 39, "20-39"), (40, 59, "40-59"), (60, 200, "60+"))
# Clips per held-out fold in the gain sweep and channel panel (a subset: each
# condition replays it through every model).
SWEEP_CLIPS = 360


def sweep_subset(clips: list[Clip], seed: int) -> list[Clip]:
    """About :data:`SWEEP_CLIPS` of ``clips``, the same number of each (speaker,
    emotion) pair (at least one) and twice that of neutral clips, half of which
    make the calibrated mode's profiles; seeded, in ``clips``' order."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for i, clip in enumerate(clips):
        pairs.setdefault((clip.speaker, clip.emotion), []).append(i)
    per_pair = max(1, math.ceil(SWEEP_CLIPS / len(pairs)))
    rng = np.random.default_rng(seed)
    chosen = set()
    for (_, emotion), indices in sorted(pairs.items()):
        count = 2 * per_pair if emotion == "neutral" else per_pair
        chosen |= set(rng.permutation(indices)[:count].tolist())
    return [clips[i] for i in sorted(chosen)]


def held_out_audio(test: list[Clip], rate: int, seed: int) -> tuple[HeldOut, HeldOut]:
    """``test`` with its audio, and the gain and channel sweeps' subset of it (:func:`sweep_subset`)."""
    full = HeldOut(test, [read_audio(c.path, rate) for c in test])
    by_path = dict(zip((c.path for c in test), full.audio))
    subset = sweep_subset(test, seed)
    return full, HeldOut(subset, [by_path[c.path] for c in subset])


def _runtime_scores(fold_models: dict[str, FitResult], arch: str, data: TrainingData, train: list[Clip],
                    test: list[Clip], labels: list[str], config: FeatureConfig, options: FitOptions,
                    folder: Path, cache: Path) -> dict[str, dict]:
    """Each of ``fold_models`` exported to ONNX as ``train`` would ship it, into
    ``folder`` (kept, so that :func:`rescore` can run them again), and scored on
    ``test`` through the runtime (:func:`~training.streamed.runtime_protocols`).
    With ``options.voice_head``, ``arch``'s model carries a head fitted on ``train``;
    an ensemble's members are scored as trained on their own."""
    speakers = {c.speaker for c in train}
    corpora = {c.corpus: LICENSES[c.corpus] for c in train}
    check, _, _ = window_arrays(data.windows_of(test[:64]), data.all_speech, labels)
    full, sweep = held_out_audio(test, config.sample_rate, options.seed)
    folder.mkdir(parents=True, exist_ok=True)
    head = fit_voice_head(train, labels, config, cache, options.seed) if options.voice_head else None
    models = {}
    for name, result in fold_models.items():
        path = folder / f"{name}.onnx"
        info = model_info(name, labels, config, data, speakers, options, corpora, {}, head if name == arch else None)
        export_onnx(result.model, info, path, check[:256])
        models[name] = EmotionModel(path)
    return runtime_protocols(models, full, sweep, labels, options.seed)


def fold_models_dir(out_dir: Path, name: str, arch: str, seed: int) -> Path:
    """Where protocol ``name``'s run of ``arch`` keeps each fold's ONNX models (beside its reports)."""
    return out_dir.parent / "folds" / report_stem(name, arch, seed)


def rescore(name: str, arch: str, data_dir: Path, out_dir: Path, seed: int, level_prior_frames: int | None,
            modes: tuple[str, ...], clips_per_speaker: int | None = None, speakers_per_corpus: int | None = None,
            command: str = "", update_reports: bool = False, voice_head: bool = False,
            model_names: tuple[str, ...] | None = None) -> dict:
    """Score the fold models a run of protocol ``name`` kept (:func:`fold_models_dir`)
    through the runtime again, in ``modes``, with the level term's prior weight set
    to ``level_prior_frames`` (see :class:`~livesense.normalization.RunningStats`)
    and, with ``voice_head``, a voice head fitted on the fold's training clips
    (:mod:`training.voice`): a runtime change measured without training again.
    ``model_names`` picks which of a fold's models to score (default: every one kept). ``clips_per_speaker`` and
    ``speakers_per_corpus`` must be those of the run that kept the models. Writes
    ``<stem>-level-prior-<N>[-voice].json`` beside the reports and returns it; with
    ``update_reports`` (every mode scored), its runtime results also replace
    those in the evaluation's reports of each model (the shipped models' level
    prior or runtime changed since, their training did not)."""
    if update_reports and set(modes) != set(MODES):
        raise ValueError("replacing a report's runtime results needs every mode scored")
    protocol = PROTOCOLS[name]
    labels = list(protocol.labels)
    clips, _ = load_clips(data_dir, protocol.corpora, protocol.labels, clips_per_speaker, speakers_per_corpus)
    folder = fold_models_dir(out_dir, name, arch, seed)
    folds, started = [], time.time()
    for fold in protocol.make_folds(clips, seed):
        models = {}
        for path in sorted((folder / fold.name).glob("*.onnx")):
            if model_names and path.stem not in model_names:
                continue
            model = EmotionModel(path)
            model.info = replace(model.info, level_prior_frames=level_prior_frames)
            models[path.stem] = model
        if not models:
            raise CorpusError(f"{folder / fold.name}: no fold models; run 'python -m training evaluate {name} "
                              f"--arch {arch}' first")
        config = next(iter(models.values())).features
        if voice_head:
            head = fit_voice_head(fold.train, labels, config, out_dir.parent / "cache", seed)
            for model in models.values():
                model.info = replace(model.info, voice_head=head)
        full, sweep = held_out_audio(fold.test, config.sample_rate, seed)
        scored = runtime_protocols(models, full, sweep, labels, seed, modes)
        folds.append({"name": fold.name, "runtime": scored})
        print(f"{name} {fold.name}: " + ", ".join(f"{m} {mode} UA {s['ua']:.1%}" for m, r in scored.items()
                                                   for mode, s in r["clean"].items() if mode in MODES and s), flush=True)
    report = {"protocol": name, "model": arch, "command": command, "level_prior_frames": level_prior_frames,
              "voice_head": voice_head,
              "seconds": round(time.time() - started),
              "runtime": {m: runtime_summary([{"name": f["name"], "runtime": f["runtime"][m]} for f in folds])
                          for m in folds[0]["runtime"]}}
    stem = report_stem(name, arch, seed)
    suffix = "-voice" if voice_head else ""
    (out_dir / f"{stem}-level-prior-{level_prior_frames}{suffix}.json").write_text(json.dumps(report, indent=1))
    if update_reports:
        for model_name in folds[0]["runtime"]:
            _replace_runtime(out_dir, name, model_name, seed, [f["runtime"][model_name] for f in folds],
                             f"scored again through the runtime after training, by `{command}`")
    return report


def _replace_runtime(out_dir: Path, name: str, model_name: str, seed: int, runs: list[dict], note: str) -> None:
    """Put ``runs`` (one runtime result per fold) into ``model_name``'s report of
    protocol ``name`` in place of those the evaluation wrote, with ``note``; its
    summary and robustness figure follow."""
    stem = report_stem(name, model_name, seed)
    path = out_dir / f"{stem}.json"
    report = json.loads(path.read_text())
    for fold, run in zip(report["folds"], runs, strict=True):
        fold["runtime"] = run
    report["runtime"] = {**runtime_summary(report["folds"]), "note": note}
    plot_robustness(report["runtime"], f"{name} {model_name}: through the runtime, against gain and channel",
                    out_dir / f"{stem}-robustness.png")
    path.write_text(json.dumps(report, indent=1))


def calibrated_stats(data: TrainingData, train_speakers: set[str], test_speakers: list[str],
                     reference: str) -> dict[str, FeatureStats]:
    """Test speakers' statistics as the runtime derives them from a calibration profile
    (their neutral clips): adjusted as :meth:`ModelInfo.speaker_stats` does for models
    referenced to all speech."""
    if reference == "neutral":
        return {s: data.neutral[s] for s in test_speakers}
    adjustment = data.profile_adjustment(train_speakers)
    return {s: adjustment.apply(data.neutral[s]) for s in test_speakers}


def _group_scores(clips: list[Clip], y_true, y_pred, labels) -> dict:
    """UA and per-class recall by sex and age band (CREMA-D demographics)."""
    groups: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        if clip.sex:
            groups.setdefault(clip.sex, []).append(i)
        if clip.age is not None:
            band = next(name for lo, hi, name in AGE_BANDS if lo <= clip.age <= hi)
            groups.setdefault(f"age {band}", []).append(i)
    result = {}
    for name, idx in sorted(groups.items()):
        s = scores(y_true[idx], y_pred[idx], labels)
        result[name] = {"n": s["n"], "ua": s["ua"], "recall": {k: v["recall"] for k, v in s["per_class"].items()}}
    uas = {k: v["ua"] for k, v in result.items()}
    sex = {k: v for k, v in uas.items() if not k.startswith("age")}
    age = {k: v for k, v in uas.items() if k.startswith("age")}
    gaps = {"sex": max(sex.values()) - min(sex.values()) if len(sex) > 1 else 0.0,
            "age": max(age.values()) - min(age.values()) if len(age) > 1 else 0.0}
    return {"groups": result, "largest_gap": {"kind": max(gaps, key=gaps.get), "points": 100 * max(gaps.values())}}


def _vote_scores(clips: list[Clip], y_pred, labels) -> dict | None:
    idx = [i for i, c in enumerate(clips) if c.voice_vote]
    if not idx:
        return None
    votes = np.array([labels.index(clips[i].voice_vote) for i in idx])
    return {k: v for k, v in scores(votes, y_pred[idx], labels).items() if k in ("n", "accuracy", "ua")}


def run_protocol(name: str, arch: str, data_dir: Path, out_dir: Path, config: FeatureConfig,
                 options: FitOptions, clips_per_speaker: int | None = None, speakers_per_corpus: int | None = None, command: str = "") -> dict:
    """Train and test ``arch`` on every fold of protocol ``name``; write ``<name>-<arch>.json`` and PNGs
    (``<name>-<arch>-seed<N>.json`` for ``options.seed`` N other than 0).

    An ensemble's members are trained exactly as on their own, so their
    reports (``<name>-<member>.json``) are written from the same run.
    ``clips_per_speaker`` keeps only that many clips per speaker and emotion (smoke runs).
    Returns ``arch``'s report.
    """
    protocol = PROTOCOLS[name]
    labels = list(protocol.labels)
    data = TrainingData.load(data_dir, protocol.corpora, protocol.labels, config, out_dir.parent / "cache",
                             clips_per_speaker, speakers_per_corpus, options.copies)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Per model scored (arch and any ensemble members): fold reports, histories,
    # and per condition the true labels and probabilities of every fold.
    scored: dict[str, dict] = {}
    tested: list[Clip] = []
    started = time.time()
    for fold in protocol.make_folds(data.clips, options.seed):
        train, val = validation_split(fold.train, options.seed)
        train_speakers = {c.speaker for c in fold.train}
        global_stats = data.pooled_all_speech(train_speakers)
        result = fit(arch, data.windows_of(train), data.windows_of(val), data.reference(options.reference), labels,
                     options, config, global_stats)
        test_speakers = sorted({c.speaker for c in fold.test})
        stats_by_condition = {
            "calibrated": calibrated_stats(data, train_speakers, test_speakers, options.reference),
            "no_profile": data.all_speech,
            "global": {s: global_stats for s in test_speakers},
        }
        y_true = np.array([labels.index(c.emotion) for c in fold.test])
        fold_models = {arch: result, **result.members}
        folder = fold_models_dir(out_dir, name, arch, options.seed) / fold.name
        runtime = (_runtime_scores(fold_models, arch, data, fold.train, fold.test, labels, config, options, folder,
                                   out_dir.parent / "cache")
                   if protocol.runtime else {})
        for model_name, model_result in fold_models.items():
            record = scored.setdefault(model_name, {"folds": [], "histories": [],
                                                    "pooled": {c: ([], []) for c in CONDITIONS}})
            record["histories"].append(model_result.history)
            fold_report = {"name": fold.name, "train_speakers": len(train_speakers), "test_speakers": test_speakers,
                           "n_train_clips": len(train), "n_val_clips": len(val), "n_test_clips": len(fold.test),
                           "best_epoch": model_result.best_epoch, "epochs_run": len(model_result.history["loss"]),
                           "conditions": {}}
            if runtime:
                fold_report["runtime"] = runtime[model_name]
            for condition, stats in stats_by_condition.items():
                probs = predict_clips(model_result.model, data.windows_of(fold.test), stats, labels)
                fold_report["conditions"][condition] = scores(y_true, probs.argmax(1), labels)
                record["pooled"][condition][0].append(y_true)
                record["pooled"][condition][1].append(probs)
            record["folds"].append(fold_report)
            print(f"{name} {model_name} {fold.name}: " + ", ".join(
                f"{c} UA {s['ua']:.1%}" for c, s in fold_report["conditions"].items()) + "".join(
                f", runtime {mode} UA {s['ua']:.1%}" for mode, s in fold_report.get("runtime", {}).get("clean", {}).items()
                if mode in MODES and s), flush=True)
        tested += fold.test
    seconds = round(time.time() - started)
    reports = {}
    for model_name, record in scored.items():
        trained_as = command if model_name == arch else f"{command} (its {model_name} member, trained as --arch {model_name})"
        reports[model_name] = _report(name, model_name, record, tested, labels, out_dir, config, options, data.summaries,
                                      trained_as, seconds)
    return reports[arch]


def _report(name: str, model_name: str, record: dict, tested: list[Clip], labels: list[str], out_dir: Path,
            config: FeatureConfig, options: FitOptions, summaries, command: str, seconds: int) -> dict:
    """Write ``<name>-<model_name>.json`` (``…-seed<N>.json`` for a seed other than 0, so
    that repeats sit beside the reference run) and its figures from one model's fold
    results; returns the report."""
    protocol, folds = PROTOCOLS[name], record["folds"]
    stem = report_stem(name, model_name, options.seed)
    report = {"protocol": name, "model": model_name, "split": protocol.split, "command": command,
              "windows_version": WINDOWS_VERSION,
              "features": config.to_dict(), "fit_options": vars(options), "conditions": CONDITIONS,
              "corpora": [str(s) for s in summaries], "seconds": seconds,
              "folds": folds, "summary": {}}
    for condition, (trues, probs) in record["pooled"].items():
        y_true, probs = np.concatenate(trues), np.concatenate(probs)
        y_pred = probs.argmax(1)
        summary = {
            "fold_mean_accuracy": float(np.mean([f["conditions"][condition]["accuracy"] for f in folds])),
            "fold_mean_ua": float(np.mean([f["conditions"][condition]["ua"] for f in folds])),
            "pooled": scores(y_true, y_pred, labels),
        }
        if protocol.sub_labels:
            keep = np.isin(y_true, [labels.index(l) for l in protocol.sub_labels])
            sub = [labels.index(l) for l in protocol.sub_labels]
            sub_pred = probs[keep][:, sub].argmax(1)  # the best of the shared classes
            sub_true = np.array([sub.index(v) for v in y_true[keep]])
            summary["six_classes"] = scores(sub_true, sub_pred, list(protocol.sub_labels))
        if name == "cremad-actors":
            summary["by_speaker_group"] = _group_scores(tested, y_true, y_pred, labels)
            summary["against_voice_vote"] = _vote_scores(tested, y_pred, labels)
        report["summary"][condition] = summary
        plot_confusion(summary["pooled"]["confusion"], labels,
                       f"{name} {model_name} ({condition}): UA {summary['pooled']['ua']:.1%}",
                       out_dir / f"{stem}-{condition}-confusion.png")
    if protocol.runtime:
        report["runtime"] = runtime_summary(folds)
        plot_robustness(report["runtime"], f"{name} {model_name}: through the runtime, against gain and channel",
                        out_dir / f"{stem}-robustness.png")
    plot_curves(record["histories"], f"{name} {model_name}: training curves per fold", out_dir / f"{stem}-curves.png")
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=1))
    return report


def runtime_summary(folds: list[dict]) -> dict:
    """The headline figures of the runtime modes over a protocol's folds: per mode
    the fold-mean UA as recorded and at each gain, the UA spread over the gain
    sweep, the mean UA over the channel panel and its drop from the same clips
    as recorded, the largest share of one label per fold, and per fold the
    calibrated minus the session UA on the same clips (points)."""
    def mean_ua(results: list[dict | None]) -> float | None:
        uas = [r["ua"] for r in results if r]
        return float(np.mean(uas)) if uas else None

    runs = [f["runtime"] for f in folds]
    summary = {"modes": MODES, "gains_db": list(GAINS_DB), "channels": list(CHANNEL_PANEL),
               "sweep_clips_per_fold": SWEEP_CLIPS, "by_mode": {}}
    for mode in (m for m in MODES if m in runs[0]["clean"]):
        clean = mean_ua([r["clean"][mode] for r in runs])
        by_gain = {g: mean_ua([r["gain"][g][mode] for r in runs]) for g in runs[0]["gain"]}
        entry = {"fold_mean_ua": clean,
                 "fold_ua": {f["name"]: (r["clean"][mode] or {}).get("ua") for f, r in zip(folds, runs)},
                 "largest_share": {f["name"]: (r["clean"][mode] or {}).get("largest_share") for f, r in zip(folds, runs)},
                 "gain_fold_mean_ua": by_gain}
        known = [v for v in by_gain.values() if v is not None]
        entry["gain_spread_points"] = 100 * (max(known) - min(known)) if known else None
        if mode in runs[0]["channel"].get(next(iter(CHANNEL_PANEL)), {}):
            by_channel = {c: mean_ua([r["channel"][c][mode] for r in runs]) for c in CHANNEL_PANEL}
            entry["channel_fold_mean_ua"] = by_channel
            entry["channel_mean_ua"] = float(np.mean(list(by_channel.values())))
            entry["channel_drop_points"] = 100 * (by_gain["+0"] - entry["channel_mean_ua"])
        summary["by_mode"][mode] = entry
    for mode in (m for m in MODES if m.startswith("calibrated") and m in runs[0]["clean"]):
        summary[f"{mode}_minus_session_points"] = {
            f["name"]: (100 * (r["clean"][mode]["ua"] - r["clean"]["session_on_calibrated_clips"]["ua"])
                        if r["clean"][mode] else None)
            for f, r in zip(folds, runs)}
    if "calibration" in runs[0]["clean"]:
        summary["calibration"] = {f["name"]: r["clean"]["calibration"] for f, r in zip(folds, runs)}
    return summary
