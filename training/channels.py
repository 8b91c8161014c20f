"""What microphones, rooms and codecs do to a voice: the fixed ``channel-shift``
panel that evaluations play held-out clips through, and the random channels
that training copies of clips pass through.

Every function takes and returns mono float32 audio at ``rate`` Hz (shape (n,)),
keeps its length and clips the result to [-1, 1] as a sound card would. Filters,
equalisers and noise are audiomentations' transforms; rooms are simulated
impulse responses (:func:`room_response`) and codecs are libsndfile's MP3 and
Opus encoders, round-tripped in memory.
"""
from __future__ import annotations

import io
import random
import zlib
from collections.abc import Callable

import audiomentations as am
import numpy as np
import scipy.signal
import soundfile as sf
import soxr

Channel = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
# libsndfile sets a codec's bitrate from a compression level in [0, 1]; these
# give the bitrates named (measured at 16 kHz on CREMA-D speech: MP3 64.4 kbps,
# Opus 24 kbps with its Ogg framing).
_MP3_64_KBPS = 0.6
_OPUS_24_KBPS = 0.927


def _finish(audio: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, np.float32)
    out[: min(length, len(audio))] = audio[:length]
    return np.clip(out, -1.0, 1.0)


def _seeded(transform: am.core.transforms_interface.BaseWaveformTransform, audio: np.ndarray, rate: int,
            rng: np.random.Generator) -> np.ndarray:
    """Apply an audiomentations transform with parameters drawn from ``rng``
    (audiomentations draws from the global ``random`` and NumPy generators)."""
    seed = int(rng.integers(2**31))
    random.seed(seed)
    np.random.seed(seed)
    return transform(samples=audio.astype(np.float32), sample_rate=rate)


def room_response(rt60_s: float, rate: int, rng: np.random.Generator, direct_to_reverberant_db: float = 3.0) -> np.ndarray:
    """A simulated room impulse response (n,), float32: a direct path, then
    Gaussian noise decaying by 60 dB in ``rt60_s`` seconds (Polack's statistical
    model of a diffuse reverberant tail), its energy ``direct_to_reverberant_db``
    below the direct path's, and the tail darkened as air and walls absorb highs."""
    length = int(rate * min(1.2 * rt60_s, 1.5))
    t = np.arange(length) / rate
    tail = rng.standard_normal(length) * 10 ** (-3 * t / rt60_s)
    tail[: int(0.002 * rate)] = 0.0  # first reflections arrive after the direct sound
    tail = scipy.signal.sosfilt(scipy.signal.butter(2, 4000, "low", fs=rate, output="sos"), tail)
    tail *= np.sqrt(10 ** (-direct_to_reverberant_db / 10) / np.sum(tail**2))
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, rate: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """``audio`` played in a room of reverberation time ``rt60_s``, at its original active level."""
    wet = scipy.signal.fftconvolve(audio, room_response(rt60_s, rate, rng))[: len(audio)]
    wet *= np.sqrt(np.mean(audio**2) / max(np.mean(wet**2), 1e-20))
    return _finish(wet, len(audio))


def encode(audio: np.ndarray, rate: int, codec: str, level: float) -> np.ndarray:
    """``audio`` encoded and decoded by libsndfile: ``codec`` "mp3" or "opus",
    ``level`` its compression level (0..1, higher is fewer kbps)."""
    container, subtype = {"mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS")}[codec]
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1, 1), rate, format=container, subtype=subtype, compression_level=level)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return _finish(decoded, len(audio))


def telephone(audio: np.ndarray, rate: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Narrowband telephony: resampled to 8 kHz through the 300-3400 Hz voice band and back."""
    narrow = soxr.resample(audio, rate, 8000)
    narrow = scipy.signal.sosfilt(scipy.signal.butter(4, (300, 3400), "bandpass", fs=8000, output="sos"), narrow)
    return _finish(soxr.resample(narrow.astype(np.float32), 8000, rate), len(audio))


def laptop_microphone(audio: np.ndarray, rate: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A small laptop microphone behind a grille: little below 250 Hz, a +6 dB
    resonance near 4 kHz and a roll-off above 7 kHz."""
    sos = np.concatenate([scipy.signal.butter(2, 250, "high", fs=rate, output="sos"),
                          scipy.signal.butter(4, 7000, "low", fs=rate, output="sos"),
                          _peaking(4000.0, 6.0, 1.5, rate)])
    return _finish(scipy.signal.sosfilt(sos, audio), len(audio))


def _peaking(centre_hz: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    """RBJ audio-EQ-cookbook peaking biquad as one second-order section (1, 6)."""
    a, w = 10 ** (gain_db / 40), 2 * np.pi * centre_hz / rate
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None]


def add_noise(audio: np.ndarray, rate: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Pink noise at ``snr_db`` below the audio's mean power."""
    noise = am.AddColorNoise(min_snr_db=snr_db, max_snr_db=snr_db, min_f_decay=-3.01, max_f_decay=-3.01, p=1.0)
    return _finish(_seeded(noise, audio, rate, rng), len(audio))


# The channel-shift panel: fixed conditions, seeded per clip where random.
CHANNEL_PANEL: dict[str, Channel] = {
    "telephone-8k": telephone,
    "laptop-mic": laptop_microphone,
    "room-rt60-0.3s": lambda audio, rate, rng: reverberate(audio, rate, 0.3, rng),
    "room-rt60-0.8s": lambda audio, rate, rng: reverberate(audio, rate, 0.8, rng),
    "opus-24kbps": lambda audio, rate, rng: encode(audio, rate, "opus", _OPUS_24_KBPS),
    "mp3-64kbps": lambda audio, rate, rng: encode(audio, rate, "mp3", _MP3_64_KBPS),
    "noise-20dB": lambda audio, rate, rng: add_noise(audio, rate, 20.0, rng),
    "noise-10dB": lambda audio, rate, rng: add_noise(audio, rate, 10.0, rng),
}


def through_panel(audio: np.ndarray, rate: int, channel: str, key: str) -> np.ndarray:
    """``audio`` through panel channel ``channel``; its randomness (room, noise) is
    seeded by ``key`` (e.g. the clip's file name), so a run repeats exactly."""
    rng = np.random.default_rng(zlib.crc32(f"{channel}/{key}".encode()))
    return CHANNEL_PANEL[channel](audio, rate, rng)


# Random channels of training copies: each stage applied with its probability.
_EQUALISER = am.SevenBandParametricEQ(min_gain_db=-9.0, max_gain_db=9.0, p=1.0)
_BAND_LIMIT = am.OneOf([am.HighPassFilter(min_cutoff_freq=80, max_cutoff_freq=400, p=1.0),
                        am.LowPassFilter(min_cutoff_freq=3000, max_cutoff_freq=7500, p=1.0),
                        am.BandPassFilter(min_center_freq=900, max_center_freq=1800, min_bandwidth_fraction=1.5,
                                          max_bandwidth_fraction=1.99, p=1.0)], p=1.0)
MAX_TRAINING_GAIN_DB = 25.0
_MAX_CLIPPED_DB = 6.0


def random_channel(audio: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random microphone, room, codec and noise, then a random gain within
    +-:data:`MAX_TRAINING_GAIN_DB` (peaks clipped by at most 6 dB): one training copy."""
    if rng.random() < 0.5:
        audio = _seeded(_EQUALISER, audio, rate, rng)
    if rng.random() < 0.4:
        audio = telephone(audio, rate) if rng.random() < 0.3 else _seeded(_BAND_LIMIT, audio, rate, rng)
    if rng.random() < 0.4:
        audio = reverberate(audio, rate, float(rng.uniform(0.2, 1.0)), rng)
    if rng.random() < 0.3:
        audio = encode(audio, rate, str(rng.choice(["mp3", "opus"])), float(rng.uniform(0.5, 0.93)))
    if rng.random() < 0.5:
        audio = add_noise(audio, rate, float(rng.uniform(5.0, 30.0)), rng)
    gain_db = rng.uniform(-MAX_TRAINING_GAIN_DB, MAX_TRAINING_GAIN_DB)
    # At most 6 dB of peaks clipped: a hot microphone, not a distortion effect.
    peak_db = 20 * np.log10(max(float(np.abs(audio).max()), 1e-6))
    return _finish(audio * 10 ** (min(gain_db, _MAX_CLIPPED_DB - peak_db) / 20), len(audio))
