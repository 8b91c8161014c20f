"""Clips → fixed-length feature windows, cut and computed by the runtime's own front end.

Each clip runs through a fresh :class:`~livesense.frontend.StreamFrontEnd`, as
``livesense file clip`` does, and its speech windows are the clip's training
windows; a clip in which the front end hears no speech window gives the window
with the most speech instead, so that every clip can be scored. Augmented copies
(:data:`AUGMENTATIONS`) are made on the audio, before features, so they pass
through the same code. Raw (unnormalised) windows are cached per clip in ``cache_dir``.
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
from livesense.frontend import AnalysedWindow, recording_windows
from livesense.normalization import FeatureStats, speech_frames

from .channels import random_channel
from .corpora import Clip, CorpusError

# Version of how windows are cut, in the cache key and in every model's and report's
# record, and what each version changed (model cards name the changes a model or a
# report predates).
WINDOWS_VERSION = 4
WINDOWS_CHANGES = {
    2: "clips were cut with one WebRTC VAD shared by all clips, whose adaptation carried over from clip to "
       "clip, where the runtime starts a fresh one per stream",
    3: "training windows covered each clip's speech span (short clips centred) and speaker statistics came "
       "from non-overlapping windows, where the runtime's windows start at the stream's start (short streams "
       "padded at the end) and its statistics take the speech frames of its speech windows",
    4: "the VAD's input was raised for quiet streams but left as it was for loud ones, where it is now brought "
       "to the same level either way (a gain no longer changes which frames are speech)",
}
# The sets of copies a clip trains as, by name: (speed factor, gain dB, white-noise
# SNR dB or None, through a random channel) per copy; copy 0 is the original.
# "gain-noise" is what the shipped models trained on; "channels" plays copies
# through a random microphone response, room, codec and pink noise with a gain
# within +-25 dB (training.channels.random_channel), which measured lower through
# the runtime (models/reports/recipe-experiments.md, session 10).
AUGMENTATIONS = {
    "gain-noise": ((1.0, 0.0, None, False), (0.9, -6.0, 25.0, False), (1.1, 4.0, 15.0, False)),
    "channels": ((1.0, 0.0, None, False), (0.9, 0.0, None, True), (1.1, 0.0, None, True)),
}
COPIES = 3  # per clip, in every set


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
    windows, fallback = _classified_windows(audio, config)
    if windows:
        return np.stack([w.features for w in windows]), np.stack([w.speech_frames for w in windows])
    return compute_features(fallback, config)[None], np.ones((1, config.frames_per_window), bool)


def clip_window_audio(audio: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The audio of the windows :func:`clip_windows` returns, in its order: float32
    (k, window_samples)."""
    windows, fallback = _classified_windows(audio, config, keep_audio=True)
    return np.stack([w.audio for w in windows]) if windows else fallback[None]


def _classified_windows(audio: np.ndarray, config: FeatureConfig,
                        keep_audio: bool = False) -> tuple[list[AnalysedWindow], np.ndarray | None]:
    """The speech windows of a clip, or none and the zero-padded audio of the window
    with the largest speech share."""
    every = recording_windows(audio, config, keep_audio)  # once: it runs the VAD and the features over the clip
    windows = [w for w in every if w.is_speech]
    if windows:
        return windows, None
    best = max(every, key=lambda w: w.speech_fraction)
    window = np.zeros(config.window_samples, np.float32)
    piece = audio[best.start : best.start + config.window_samples]
    window[: len(piece)] = piece
    return [], window


def augment(audio: np.ndarray, speed: float, gain_db: float, snr_db: float | None, channel: bool,
            rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Speed perturbation (resampling: tempo and pitch together), gain, white noise
    at ``snr_db`` and with ``channel`` a random channel
    (:func:`~training.channels.random_channel`)."""
    if speed != 1.0:
        audio = soxr.resample(audio, sample_rate * speed, sample_rate)
    audio = audio * 10 ** (gain_db / 20)
    if snr_db is not None:
        power = np.mean(audio**2) + 1e-12
        audio = audio + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(audio))
    if channel:
        audio = random_channel(audio, sample_rate, rng)
    return np.clip(audio, -1, 1).astype(np.float32)


def _cache_key(config: FeatureConfig, copies: str) -> str:
    blob = json.dumps([config.to_dict(), copies, AUGMENTATIONS[copies], f"v{WINDOWS_VERSION}"], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _clip_windows(clip: Clip, config: FeatureConfig, copies: str) -> list[tuple[np.ndarray, np.ndarray]]:
    audio = read_audio(clip.path, config.sample_rate)
    rng = np.random.default_rng(zlib.crc32(clip.path.name.encode()))
    return [clip_windows(augment(audio, *copy, rng, config.sample_rate) if copy != (1.0, 0.0, None, False) else audio,
                         config)
            for copy in AUGMENTATIONS[copies]]


def build_windows(clips: list[Clip], config: FeatureConfig, cache_dir: Path, copies: str = "gain-noise") -> list[ClipWindows]:
    """Feature windows for every clip and each copy of :data:`AUGMENTATIONS` ``copies``, cached on disk."""
    cache = Path(cache_dir) / f"windows-{_cache_key(config, copies)}"
    cache.mkdir(parents=True, exist_ok=True)
    result = []
    with Progress(transient=True) as progress:
        task = progress.add_task("features", total=len(clips))
        for clip in clips:
            path = cache / f"{clip.corpus}-{clip.path.stem}.npz"
            if path.exists():
                with np.load(path) as data:
                    made = [(data[f"copy{i}"], data[f"speech{i}"]) for i in range(COPIES)]
            else:
                made = _clip_windows(clip, config, copies)
                np.savez(path, **{f"copy{i}": c for i, (c, _) in enumerate(made)},
                         **{f"speech{i}": m for i, (_, m) in enumerate(made)})
            result.append(ClipWindows(clip, [c for c, _ in made], [m for _, m in made]))
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
    cache = Path(cache_dir) / f"stats-{_cache_key(config, 'gain-noise')}-{name}.json"  # of the originals only
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
