"""Clips → fixed-length feature windows, cut and computed by the runtime's own front end.

Each clip runs through a fresh :class:`~livesense.frontend.StreamFrontEnd`, as
``livesense file clip`` does, and its speech windows are the clip's training
windows; a clip in which the front end hears no speech window gives the window
with the most speech instead, so that every clip can be scored. Augmented copies
(speed; microphone, room, codec, noise and gain) are made on the audio, before
features, so they pass through the same code. Raw (unnormalised) windows are cached per clip in ``cache_dir``.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
from rich.progress import Progress

from livesense.audio import read_audio
from livesense.features import FeatureConfig, compute_features
from livesense.frontend import recording_windows
from livesense.normalization import FeatureStats, speech_frames

from .channels import random_channel
from .corpora import Clip, CorpusError

# Version of how windows are cut, in the cache key and in every model's and report's
# record, and what each version changed (model cards name the changes a model or a
# report predates).
WINDOWS_VERSION = 3
WINDOWS_CHANGES = {
    2: "clips were cut with one WebRTC VAD shared by all clips, whose adaptation carried over from clip to "
       "clip, where the runtime starts a fresh one per stream",
    3: "training windows covered each clip's speech span (short clips centred) and speaker statistics came "
       "from non-overlapping windows, where the runtime's windows start at the stream's start (short streams "
       "padded at the end) and its statistics take the speech frames of its speech windows",
}
# (speed factor, through a random channel) for each copy of a clip; copy 0 is the
# original. A random channel (training.channels.random_channel) is a random
# microphone response, room, codec and noise, and a gain within +-25 dB.
AUGMENTATIONS = ((1.0, False), (0.9, True), (1.1, True))
# Version of what the copies are, in the cache key: 1 was speed with fixed
# gains (-6, +4 dB) and white noise (25, 15 dB SNR).
AUGMENTATIONS_VERSION = 2


@dataclass
class ClipWindows:
    """Raw feature windows of one clip: ``windows[copy]`` has shape (k, frames, n_features)
    and ``speech[copy]`` (k, frames) says which of their frames are speech."""

    clip: Clip
    windows: list[np.ndarray]
    speech: list[np.ndarray]


def clip_windows(audio: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Raw feature windows of one clip (float32 (n,) at ``config.sample_rate``), shape
    (k >= 1, frames_per_window, n_features), and which of their frames are speech
    (bool (k, frames_per_window)): the speech windows the runtime would classify,
    or, if it hears none, the one window with the largest speech share (all of
    its frames counted as speech)."""
    windows = [w for w in recording_windows(audio, config) if w.is_speech]
    if windows:
        return np.stack([w.features for w in windows]), np.stack([w.speech_frames for w in windows])
    best = max(recording_windows(audio, config), key=lambda w: w.speech_fraction)
    window = np.zeros(config.window_samples, np.float32)
    piece = audio[best.start : best.start + config.window_samples]
    window[: len(piece)] = piece
    return compute_features(window, config)[None], np.ones((1, config.frames_per_window), bool)


def augment(audio: np.ndarray, speed: float, channel: bool, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Speed perturbation (resampling: tempo and pitch together), then with
    ``channel`` a random channel (:func:`~training.channels.random_channel`)."""
    if speed != 1.0:
        audio = soxr.resample(audio, sample_rate * speed, sample_rate)
    if channel:
        audio = random_channel(audio, sample_rate, rng)
    return np.clip(audio, -1, 1).astype(np.float32)


def _cache_key(config: FeatureConfig) -> str:
    blob = json.dumps([config.to_dict(), AUGMENTATIONS, f"a{AUGMENTATIONS_VERSION}", f"v{WINDOWS_VERSION}"],
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _clip_windows(clip: Clip, config: FeatureConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    audio = read_audio(clip.path, config.sample_rate)
    rng = np.random.default_rng(zlib.crc32(clip.path.name.encode()))
    return [clip_windows(augment(audio, speed, channel, rng, config.sample_rate) if speed != 1.0 or channel else audio,
                         config)
            for speed, channel in AUGMENTATIONS]


def build_windows(clips: list[Clip], config: FeatureConfig, cache_dir: Path) -> list[ClipWindows]:
    """Feature windows for every clip and augmented copy, cached on disk."""
    cache = Path(cache_dir) / f"windows-{_cache_key(config)}"
    cache.mkdir(parents=True, exist_ok=True)
    result = []
    with Progress(transient=True) as progress:
        task = progress.add_task("features", total=len(clips))
        for clip in clips:
            path = cache / f"{clip.corpus}-{clip.path.stem}.npz"
            if path.exists():
                with np.load(path) as data:
                    copies = [(data[f"copy{i}"], data[f"speech{i}"]) for i in range(len(AUGMENTATIONS))]
            else:
                copies = _clip_windows(clip, config)
                np.savez(path, **{f"copy{i}": c for i, (c, _) in enumerate(copies)},
                         **{f"speech{i}": m for i, (_, m) in enumerate(copies)})
            result.append(ClipWindows(clip, [c for c, _ in copies], [m for _, m in copies]))
            progress.advance(task)
    return result


def _speech_frames(clip: Clip, config: FeatureConfig) -> np.ndarray:
    return speech_frames(recording_windows(read_audio(clip.path, config.sample_rate), config), config)


def speaker_stats(clips: list[Clip], config: FeatureConfig, cache_dir: Path,
                  emotions: tuple[str, ...] | None = ("neutral",)) -> dict[str, FeatureStats]:
    """Per-speaker statistics of speech frames from clips of ``emotions`` (None: all clips).

    With ``("neutral",)`` this is what a user's calibration profile holds; with
    None it stands in for running statistics over a long session of that voice.
    """
    name = "all" if emotions is None else "-".join(emotions)
    cache = Path(cache_dir) / f"stats-{_cache_key(config)}-{name}.json"
    known = {k: FeatureStats.from_dict(v) for k, v in json.loads(cache.read_text()).items()} if cache.exists() else {}
    wanted = sorted({c.speaker for c in clips} - set(known))
    for speaker in wanted:
        chosen = [c for c in clips if c.speaker == speaker and (emotions is None or c.emotion in emotions)]
        if not chosen:
            raise CorpusError(f"speaker {speaker} has no {'/'.join(emotions or ())} clips to normalise by")
        frames = np.concatenate([_speech_frames(c, config) for c in chosen])
        known[speaker] = FeatureStats.from_frames(frames)
    if wanted:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({k: v.to_dict() for k, v in known.items()}))
    return known
