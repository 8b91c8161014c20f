"""Clips → fixed-length feature windows, exactly as the runtime cuts and computes them.

Each clip's speech span (WebRTC VAD) is covered by analysis windows of
``FeatureConfig.window_s`` at the runtime's hop; clips shorter than a window are
centred and padded with digital silence. Augmented copies (speed, gain, noise)
are made on the audio, before features, so they pass through the same code.
Raw (unnormalised) windows are cached per clip in ``cache_dir``.
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
from livesense.normalization import FeatureStats, speech_frames
from livesense.vad import speech_mask, vad_frame_samples

from .corpora import Clip, CorpusError

# Version of how windows are cut, in the cache key and in every model's and report's
# record. 1 cut every clip with one WebRTC VAD shared by all clips, whose adaptation
# carried over from clip to clip; 2 starts a fresh one per clip, as the runtime does per stream.
WINDOWS_VERSION = 2
# (speed factor, gain dB, noise SNR dB or None) for each copy of a clip; copy 0 is the original.
AUGMENTATIONS = ((1.0, 0.0, None), (0.9, -6.0, 25.0), (1.1, 4.0, 15.0))


@dataclass
class ClipWindows:
    """Raw feature windows of one clip: ``windows[copy]`` has shape (k, frames, n_features)."""

    clip: Clip
    windows: list[np.ndarray]


def speech_span(audio: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """Sample range from the first to the last VAD speech frame of one clip (whole clip if none)."""
    mask = speech_mask(audio, sample_rate)
    if not mask.any():
        return 0, len(audio)
    hits = np.flatnonzero(mask)
    frame = vad_frame_samples(sample_rate)
    return int(hits[0] * frame), int(min(len(audio), (hits[-1] + 1) * frame))


def cut_windows(audio: np.ndarray, config: FeatureConfig, span: tuple[int, int]) -> list[np.ndarray]:
    """Analysis windows (each ``config.window_samples`` long) covering ``span``, the
    clip's speech (from :func:`speech_span`)."""
    size, hop = config.window_samples, config.hop_samples
    start, end = span
    if end - start <= size:
        centre = (start + end) // 2
        begin = centre - size // 2
        padded = np.zeros(size, np.float32)
        lo, hi = max(0, begin), min(len(audio), begin + size)
        padded[lo - begin : hi - begin] = audio[lo:hi]
        return [padded]
    starts = list(range(start, end - size + 1, hop))
    if starts[-1] + size < end:
        starts.append(end - size)
    return [audio[s : s + size] for s in starts]


def augment(audio: np.ndarray, speed: float, gain_db: float, snr_db: float | None,
            rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Speed perturbation (resampling: tempo and pitch together), gain and white noise."""
    if speed != 1.0:
        audio = soxr.resample(audio, sample_rate * speed, sample_rate)
    audio = audio * 10 ** (gain_db / 20)
    if snr_db is not None:
        power = np.mean(audio**2) + 1e-12
        audio = audio + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(audio))
    return np.clip(audio, -1, 1).astype(np.float32)


def _cache_key(config: FeatureConfig) -> str:
    blob = json.dumps([config.to_dict(), AUGMENTATIONS, f"v{WINDOWS_VERSION}"], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _clip_windows(clip: Clip, config: FeatureConfig) -> list[np.ndarray]:
    audio = read_audio(clip.path, config.sample_rate)
    rng = np.random.default_rng(zlib.crc32(clip.path.name.encode()))
    copies = []
    for speed, gain, snr in AUGMENTATIONS:
        version = augment(audio, speed, gain, snr, rng, config.sample_rate) if speed != 1.0 or snr else audio
        windows = cut_windows(version, config, speech_span(version, config.sample_rate))
        copies.append(np.stack([compute_features(w, config) for w in windows]))
    return copies


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
                    copies = [data[f"copy{i}"] for i in range(len(AUGMENTATIONS))]
            else:
                copies = _clip_windows(clip, config)
                np.savez(path, **{f"copy{i}": c for i, c in enumerate(copies)})
            result.append(ClipWindows(clip, copies))
            progress.advance(task)
    return result


def _speech_frames(clip: Clip, config: FeatureConfig) -> np.ndarray:
    audio = read_audio(clip.path, config.sample_rate)
    return speech_frames(audio, config, speech_mask(audio, config.sample_rate))


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
