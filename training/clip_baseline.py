"""The reference every shipped model is held to: a logistic regression on each clip's
feature statistics (mean and std of its speaker-normalised frames), leave one corpus out.

Two variants, both with each speaker normalised by the statistics of all their
clips (the ``no_profile`` condition of :mod:`training.evaluate`):

- ``clip``: statistics of the whole speech span of the clip at once (from its
  first to its last VAD speech frame), the classifier the new-voices issue measured;
- ``windows``: the same classifier on the runtime's 2 s windows (cut as in
  training), probabilities averaged over each clip's windows: what a streaming
  model can see.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.progress import track
from sklearn.linear_model import LogisticRegression

from livesense.audio import read_audio
from livesense.features import FeatureConfig, compute_features
from livesense.normalization import FeatureStats
from livesense.vad import speech_mask, vad_frame_samples

from .data import load_clips
from .dataset import clip_windows
from .metrics import scores
from .protocols import PROTOCOLS


def _speech_span(audio: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """Sample range from the first to the last VAD speech frame of one clip (whole clip if none)."""
    mask = speech_mask(audio, sample_rate)
    if not mask.any():
        return 0, len(audio)
    hits = np.flatnonzero(mask)
    frame = vad_frame_samples(sample_rate)
    return int(hits[0] * frame), int(min(len(audio), (hits[-1] + 1) * frame))


def _pooled(frames: np.ndarray, stats: FeatureStats) -> np.ndarray:
    normalized = stats.normalize(frames)
    return np.concatenate([normalized.mean(axis=0), normalized.std(axis=0)])


def run_clip_baseline(data_dir: Path, out_dir: Path, config: FeatureConfig, clips_per_speaker: int | None = None,
                      speakers_per_corpus: int | None = None, command: str = "") -> dict:
    """Write ``cross-corpus-clip-logreg.json`` to ``out_dir``; returns the report.
    ``clips_per_speaker`` keeps only that many clips per speaker and emotion (smoke runs)."""
    protocol = PROTOCOLS["cross-corpus"]
    labels = list(protocol.labels)
    clips, _ = load_clips(data_dir, protocol.corpora, protocol.labels, clips_per_speaker, speakers_per_corpus)
    spans, windows = [], []
    for clip in track(clips, description="features", transient=True):
        audio = read_audio(clip.path, config.sample_rate)
        start, end = _speech_span(audio, config.sample_rate)
        spans.append(compute_features(audio[start:end], config))
        windows.append(list(clip_windows(audio, config)[0]))
    by_speaker: dict[str, list[np.ndarray]] = {}
    for clip, frames in zip(clips, spans):
        by_speaker.setdefault(clip.speaker, []).append(frames)
    stats = {s: FeatureStats.from_frames(np.concatenate(f)) for s, f in by_speaker.items()}
    y = np.array([labels.index(c.emotion) for c in clips])
    corpus = np.array([c.corpus for c in clips])
    rows = {
        "clip": ([_pooled(f, stats[c.speaker]) for c, f in zip(clips, spans)], list(range(len(clips)))),
        "windows": ([_pooled(w, stats[c.speaker]) for c, ws in zip(clips, windows) for w in ws],
                    [i for i, ws in enumerate(windows) for _ in ws]),
    }
    report = {"protocol": "cross-corpus", "model": "clip-logreg", "command": command, "split": protocol.split,
              "features": config.to_dict(), "normalization": "each speaker by the statistics of all their clips",
              "classifier": "sklearn LogisticRegression(C=0.1, class_weight='balanced') on mean+std per clip or window",
              "summary": {}}
    for variant, (x, owners) in rows.items():
        x, owners = np.array(x), np.array(owners)
        folds = {}
        for held in sorted(set(corpus)):
            train = corpus[owners] != held
            model = LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced").fit(x[train], y[owners][train])
            sums = np.zeros((len(clips), len(labels)))
            np.add.at(sums, owners[~train], model.predict_proba(x[~train]))
            test = np.flatnonzero(corpus == held)
            folds[f"held-out-{held}"] = scores(y[test], sums[test].argmax(1), labels)["ua"]
        report["summary"][variant] = {"fold_ua": folds, "fold_mean_ua": float(np.mean(list(folds.values())))}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "cross-corpus-clip-logreg.json").write_text(json.dumps(report, indent=1))
    return report
