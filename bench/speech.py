"""The benchmark's audio: real speech from the corpora, concatenated in memory.

Nothing here is written into the repository; callers put WAV files in a
temporary directory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livesense.audio import read_audio

ROOT = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("LIVESENSE_DATASETS", ROOT.parent / "shared" / "datasets"))
SAMPLE_RATE = 16000


@dataclass
class Speech:
    """Clips laid end to end: ``audio`` float32 (n,) at 16 kHz; clip ``i`` is
    ``audio[bounds[i]:bounds[i + 1]]`` and was read from ``paths[i]``."""

    audio: np.ndarray
    bounds: np.ndarray  # int64, shape (n_clips + 1,)
    paths: list[Path]

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def corpus_clips() -> list[Path]:
    """CREMA-D and RAVDESS clips (both stored at 16 kHz), interleaved so any
    prefix mixes the two corpora, speakers and emotions."""
    cremad = sorted((DATASETS / "cremad" / "AudioWAV").glob("*.flac"))
    ravdess = sorted((DATASETS / "ravdess").glob("Actor_*/*.flac"))
    if not cremad or not ravdess:
        raise SystemExit(f"corpora not found under {DATASETS} (set LIVESENSE_DATASETS)")
    # A fixed stride through each sorted list visits many actors early on.
    cremad, ravdess = cremad[::7] + cremad[3::7], ravdess[::5] + ravdess[2::5]
    mixed = [clip for pair in zip(cremad, ravdess) for clip in pair]
    return mixed + cremad[len(ravdess):] + ravdess[len(cremad):]


def build_speech(seconds: float) -> Speech:
    """At least ``seconds`` of speech (whole clips), always the same clips for the same length."""
    clips, paths, total = [], [], 0
    for path in corpus_clips():
        clips.append(read_audio(path, SAMPLE_RATE))
        paths.append(path)
        total += len(clips[-1])
        if total >= seconds * SAMPLE_RATE:
            break
    bounds = np.concatenate([[0], np.cumsum([len(c) for c in clips])])
    return Speech(np.concatenate(clips), bounds, paths)


def with_pauses(speech: Speech, pause_s: float = 4.0, every_s: float = 20.0) -> np.ndarray:
    """The speech with ``pause_s`` of low noise after about every ``every_s``:
    a day at a desk is mostly not talking. float32 (n,)."""
    rng = np.random.default_rng(0)
    pieces, last = [], 0
    for end in speech.bounds[1:]:
        if end - last >= every_s * SAMPLE_RATE or end == speech.bounds[-1]:
            pieces.append(speech.audio[last:end])
            # Room noise about 60 dB below full scale, not digital silence.
            pieces.append(rng.normal(0, 1e-3, int(pause_s * SAMPLE_RATE)).astype(np.float32))
            last = end
    return np.concatenate(pieces)
