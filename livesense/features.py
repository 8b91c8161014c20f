"""MFCC features: the one place in livesense that turns audio into model input.

Training and runtime both call :func:`compute_features` with the
:class:`FeatureConfig` stored in the model's ONNX metadata, so what a model was
trained on is exactly what it is fed at run time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import python_speech_features as psf
from scipy.fft import dct


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the feature pipeline (all times in seconds).

    ``window_s`` / ``hop_s`` describe the sliding analysis windows the model
    classifies; ``frame_s`` / ``frame_hop_s`` the MFCC frames inside a window.
    """

    sample_rate: int = 16000
    window_s: float = 2.0
    hop_s: float = 0.5
    frame_s: float = 0.032
    frame_hop_s: float = 0.020
    n_fft: int = 512
    n_mels: int = 40
    n_mfcc: int = 20
    # Mel filters stop below Nyquist: resamplers differ most in the last few
    # hundred Hz, and microphones at 44.1/48 kHz are always resampled.
    low_hz: float = 60.0
    high_hz: float = 7600.0
    preemphasis: float = 0.97
    cepstral_lifter: int = 22
    analysis_window: str = "hamming"
    deltas: bool = True
    # Power floor before the log: digital silence (zero padding, muted input)
    # would otherwise give log(eps) outliers around -36 that dominate normalisation.
    log_floor: float = 1e-10

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_s * self.sample_rate))

    @property
    def frame_samples(self) -> int:
        return int(round(self.frame_s * self.sample_rate))

    @property
    def frame_hop_samples(self) -> int:
        return int(round(self.frame_hop_s * self.sample_rate))

    @property
    def frames_per_window(self) -> int:
        """Number of MFCC frames in one analysis window."""
        return 1 + (self.window_samples - self.frame_samples) // self.frame_hop_samples

    @property
    def n_features(self) -> int:
        """Feature dimensions per frame (MFCC, plus their deltas if enabled)."""
        return self.n_mfcc * (2 if self.deltas else 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown feature parameters: {sorted(unknown)}")
        return cls(**values)


_WINDOWS = {"hamming": np.hamming, "hann": np.hanning}


def compute_features(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC (+ deltas) of a 16 kHz mono signal.

    Args:
        signal: float samples in [-1, 1] at ``config.sample_rate``, shape (n,).
            Frames are taken only where a whole frame fits (no padding), so a
            window of ``config.window_samples`` gives ``config.frames_per_window``.
    Returns:
        float32 array of shape (frames, ``config.n_features``).
    """
    window_fn = _WINDOWS[config.analysis_window]
    signal = np.asarray(signal, dtype=np.float64)
    n_frames = 1 + (len(signal) - config.frame_samples) // config.frame_hop_samples
    if n_frames < 1:
        return np.zeros((0, config.n_features), dtype=np.float32)
    # Trim so python_speech_features does not zero-pad a partial last frame.
    used = config.frame_samples + (n_frames - 1) * config.frame_hop_samples
    signal = signal[:used]
    # Training and runtime both call this once per analysis window, so
    # pre-emphasis and deltas restart at each window's edges in both alike.
    emphasized = psf.sigproc.preemphasis(signal, config.preemphasis)
    frames = psf.sigproc.framesig(
        emphasized, config.frame_samples, config.frame_hop_samples, winfunc=window_fn
    )
    power = psf.sigproc.powspec(frames, config.n_fft)
    filterbank = psf.get_filterbanks(config.n_mels, config.n_fft, config.sample_rate, config.low_hz, config.high_hz)
    mel_energy = np.maximum(power @ filterbank.T, config.log_floor)
    cepstra = dct(np.log(mel_energy), type=2, axis=1, norm="ortho")[:, : config.n_mfcc]
    cepstra = psf.base.lifter(cepstra, config.cepstral_lifter)
    if config.deltas:
        cepstra = np.hstack([cepstra, psf.delta(cepstra, 2)])
    return cepstra.astype(np.float32)
