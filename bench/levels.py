"""Test signals for level and noise checks: speech moved to an active speech level,
and steady noises (used by bench/gain_sweep.py and tests/test_vad.py)."""
from __future__ import annotations

import numpy as np

SR = 16000


def active_level_dbfs(audio: np.ndarray) -> float:
    """Mean power, in dBFS, of the 30 ms frames within 30 dB of the loudest (a simple active speech level)."""
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480).astype(np.float64)
    power = (frames**2).mean(axis=1)
    return float(10 * np.log10(power[power >= power.max() * 1e-3].mean()))


def at_level(audio: np.ndarray, dbfs: float) -> np.ndarray:
    return np.clip(audio * 10 ** ((dbfs - active_level_dbfs(audio)) / 20), -1, 1).astype(np.float32)


def noises() -> dict[str, np.ndarray]:
    """10 s each, RMS 1 (scaled by the test): white, pink, mains hum with harmonics, a square wave."""
    rng = np.random.default_rng(0)
    n = 10 * SR
    t = np.arange(n) / SR
    spectrum = np.fft.rfft(rng.normal(0, 1, n)) / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))
    signals = {
        "white": rng.normal(0, 1, n),
        "pink": np.fft.irfft(spectrum, n),
        "hum": sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 8)),
        "square": np.sign(np.sin(2 * np.pi * 220 * t)),
    }
    return {name: x / np.sqrt(np.mean(x**2)) for name, x in signals.items()}
