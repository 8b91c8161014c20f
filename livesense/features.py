"""MFCC features: the one place in livesense that turns audio into model input.

Training and runtime both call :func:`compute_features` with the
:class:`FeatureConfig` stored in the model's ONNX metadata, so what a model was
trained on is exactly what it is fed at run time. The streaming engine uses
:class:`SlidingFeatures`, which returns the same arrays for overlapping windows
while computing each frame's spectrum once instead of once per window.

The MFCC are python_speech_features' (its pre-emphasis, power spectrum, mel
filterbank, DCT and lifter), with a Hamming analysis window instead of its
rectangular default and a floor relative to the window's loudest band. They
are computed in float32 (but for the mel filterbank product): 16-bit audio holds
no more precision, results stay within about 2e-6 of each coefficient's range
of a float64 computation, and the FFT and the logarithm take about half the time.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np
import python_speech_features as psf
from scipy.fftpack import dct  # the DCT python_speech_features uses


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
    # Mel energies are floored at this many dB below the window's loudest band
    # energy before the log. The corpora's noise floors differ by 30 dB and
    # zero padding has none; a floor relative to the speech makes them alike
    # and keeps the features independent of the input gain.
    dynamic_range_db: float = 50.0

    def __post_init__(self):
        # A model's metadata is read into this class: damaged values must fail
        # here, with a reason, not hang the engine (hop 0) or crash deep inside it.
        problems = []
        if self.sample_rate not in (8000, 16000, 32000, 48000):
            problems.append(f"sample_rate {self.sample_rate!r} is not one WebRTC VAD takes (8000, 16000, 32000, 48000)")
        for name in ("window_s", "hop_s", "frame_s", "frame_hop_s", "high_hz", "dynamic_range_db"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                problems.append(f"{name} {value!r} is not a positive number")
        if not problems:
            if self.frame_hop_samples < 1 or self.hop_samples < 1 or self.frame_samples < 1:
                problems.append("a hop or frame is shorter than one sample")
            if self.window_samples < self.frame_samples or self.n_fft < self.frame_samples:
                problems.append("window_s and n_fft must hold at least one frame")
            if not 0 <= self.low_hz < self.high_hz <= self.sample_rate / 2:
                problems.append(f"mel band {self.low_hz!r}-{self.high_hz!r} Hz is not within 0-{self.sample_rate // 2} Hz")
        if not (isinstance(self.n_mels, int) and isinstance(self.n_mfcc, int) and 1 <= self.n_mfcc <= self.n_mels):
            problems.append(f"n_mfcc {self.n_mfcc!r} and n_mels {self.n_mels!r} must be integers, 1 <= n_mfcc <= n_mels")
        if isinstance(self.preemphasis, (int, float)) and 0 <= self.preemphasis < 1:
            # A Python float: a NumPy float64 would turn the float32 signal into float64.
            object.__setattr__(self, "preemphasis", float(self.preemphasis))
        else:
            problems.append(f"preemphasis {self.preemphasis!r} is not a number in [0, 1)")
        if not (isinstance(self.n_fft, int) and isinstance(self.cepstral_lifter, int) and self.cepstral_lifter >= 0
                and isinstance(self.deltas, bool)):
            problems.append("n_fft and cepstral_lifter must be integers (lifter >= 0), deltas true or false")
        if self.analysis_window not in _WINDOWS:
            problems.append(f"analysis_window {self.analysis_window!r} is not one of {sorted(_WINDOWS)}")
        if problems:
            raise ValueError("; ".join(problems))

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
_DTYPE = np.float32  # of every intermediate array (see the module docstring)
_ABSOLUTE_FLOOR = 1e-12  # for windows of digital silence (a normal float32)
_DELTA_SPAN = 2  # frames either side in the delta regression


@lru_cache(maxsize=8)
def _constants(config: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(analysis window (frame_samples,), python_speech_features' mel filterbank
    transposed (n_fft // 2 + 1, n_mels), its liftered orthonormal DCT-II as a
    matrix (n_mels, n_mfcc)) for ``config``.

    ``log_mel @ dct`` equals ``lifter(dct(log_mel, norm="ortho")[:, :n_mfcc])``
    as python_speech_features computes it, in one matrix product per window.
    """
    window = _WINDOWS[config.analysis_window](config.frame_samples)
    filterbank = psf.get_filterbanks(config.n_mels, config.n_fft, config.sample_rate, config.low_hz, config.high_hz)
    # 1 / n_fft of the power spectrum folded into the filterbank; float64 (see _mel_energies).
    filterbank = np.ascontiguousarray(filterbank.T / config.n_fft)
    dct_matrix = psf.base.lifter(dct(np.eye(config.n_mels), type=2, axis=1, norm="ortho")[:, : config.n_mfcc],
                                 config.cepstral_lifter)
    return window.astype(_DTYPE), filterbank, dct_matrix.astype(_DTYPE)


def _frames(emphasized: np.ndarray, n_frames: int, config: FeatureConfig) -> np.ndarray:
    """The first ``n_frames`` frames of a contiguous pre-emphasised float32 signal at
    least ``frame_samples + (n_frames - 1) * frame_hop_samples`` long: a view,
    shape (n_frames, frame_samples), not to be written to."""
    # ndarray over the signal's buffer: as_strided does the same ten times slower,
    # and this runs for every window.
    if emphasized.dtype != _DTYPE or not emphasized.flags.c_contiguous:
        raise TypeError(f"frames need a contiguous {np.dtype(_DTYPE)} signal, got {emphasized.dtype}")
    size = emphasized.itemsize
    return np.ndarray((n_frames, config.frame_samples), _DTYPE, emphasized, 0,
                      (config.frame_hop_samples * size, size))


def _mel_energies(frames: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Mel band energies of frames (n >= 2, frame_samples), float64 (n, n_mels).
    Each row depends only on its own frame, to the last bit, for any n >= 2 (a
    single row takes another BLAS path; the engine always computes two or more)."""
    window, filterbank, _ = _constants(config)
    # python_speech_features' powspec, |X|^2 / n_fft, without its square root and square.
    spectrum = np.fft.rfft(frames * window, config.n_fft)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    # The filterbank product in float64: float32 BLAS rounds a row differently
    # depending on how many rows share the call, and the engine computes a
    # window's frames in other groups than compute_features does.
    return power.astype(np.float64) @ filterbank


# y[n] = x[n] - c * x[n-1], with y[0] = x[0]: it restarts at the signal's start.
_preemphasis = psf.sigproc.preemphasis


def cepstra(mel_energy: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Features of windows from their frames' mel energies.

    Args:
        mel_energy: float64, shape (n_frames, n_mels) for one window or
            (n_windows, n_frames, n_mels) for several; the floor and the deltas
            depend on each whole window.
    Returns:
        float32, shape (..., n_frames, ``config.n_features``).
    """
    _, _, dct = _constants(config)
    loudest = mel_energy.max(axis=(-2, -1), keepdims=True)
    floor = np.maximum(loudest, _ABSOLUTE_FLOOR) * 10 ** (-config.dynamic_range_db / 10)
    # float32 from here; the product runs window by window (stacked matmul), so a
    # window's features do not depend on the others in the call.
    cepstra = np.log(np.maximum(mel_energy, floor).astype(_DTYPE)) @ dct
    if not config.deltas:
        return cepstra
    # python_speech_features' delta (regression over +-2 frames, the edge frames
    # repeated), vectorised: psf.delta loops over frames in Python, and this runs
    # for every window. Written straight into the float32 result.
    n, m, span = cepstra.shape[-2], cepstra.shape[-1], _DELTA_SPAN
    padded = np.concatenate([cepstra[..., :1, :].repeat(span, -2), cepstra,
                             cepstra[..., -1:, :].repeat(span, -2)], axis=-2)
    delta = padded[..., span + 1 : span + 1 + n, :] - padded[..., span - 1 : span - 1 + n, :]
    for i in range(2, span + 1):
        delta += i * (padded[..., span + i : span + i + n, :] - padded[..., span - i : span - i + n, :])
    result = np.empty(cepstra.shape[:-1] + (2 * m,), dtype=np.float32)
    result[..., :m] = cepstra
    result[..., m:] = delta / (2 * sum(i * i for i in range(1, span + 1)))
    return result


def _frame_count(n_samples: int, config: FeatureConfig) -> int:
    return max(0, 1 + (n_samples - config.frame_samples) // config.frame_hop_samples)


def compute_features(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC (+ deltas) of a 16 kHz mono signal.

    Args:
        signal: float samples in [-1, 1] at ``config.sample_rate``, shape (n,).
            Frames are taken only where a whole frame fits (no padding), so a
            window of ``config.window_samples`` gives ``config.frames_per_window``.
    Returns:
        float32 array of shape (frames, ``config.n_features``).
    """
    signal = np.asarray(signal, dtype=_DTYPE)
    n_frames = _frame_count(len(signal), config)
    if n_frames < 1:
        return np.zeros((0, config.n_features), dtype=np.float32)
    # Training and runtime both call this once per analysis window, so
    # pre-emphasis and deltas restart at each window's edges in both alike.
    emphasized = _preemphasis(signal, config.preemphasis)
    return cepstra(_mel_energies(_frames(emphasized, n_frames, config), config), config)


class SlidingFeatures:
    """:func:`compute_features` of successive windows of one stream, reusing the
    spectra of the frames that overlapping windows share.

    A frame's mel energies depend only on its samples, except in a window's
    first frame, where pre-emphasis restarts; so when a window starts a whole
    number of frame hops after the previous one, the shared frames (all but the
    first) are taken over and only the first and the new frames are computed.
    The result for every window equals ``compute_features(window, config)``.
    """

    def __init__(self, config: FeatureConfig):
        self.config = config
        self._start: int | None = None  # stream sample where the previous window started
        self._mel: np.ndarray | None = None  # its frames' mel energies

    def __call__(self, window: np.ndarray, start: int) -> np.ndarray:
        """Features of ``window`` (float, shape (n,)) starting at stream sample ``start``;
        shape (frames, n_features) as from :func:`compute_features`."""
        if _frame_count(len(window), self.config) < 1:
            return compute_features(window, self.config)
        return cepstra(self.mel_energies(window, start), self.config)

    def mel_energies(self, window: np.ndarray, start: int) -> np.ndarray:
        """The frames' mel energies of ``window`` (at least one frame long), float64
        (frames, n_mels): :func:`cepstra` of them are its features. Several
        windows' energies can go through :func:`cepstra` in one call."""
        cfg = self.config
        n_frames = _frame_count(len(window), cfg)
        step = cfg.frame_hop_samples
        shift, rest = divmod(start - self._start, step) if self._start is not None else (0, 1)
        shared = n_frames - shift - 1  # frames 1..shared of this window were in the previous one
        if rest or shift < 1 or shared < 1 or len(self._mel) != n_frames:
            signal = np.asarray(window, dtype=_DTYPE)
            mel = _mel_energies(_frames(_preemphasis(signal, cfg.preemphasis), n_frames, cfg), cfg)
        else:
            first = np.asarray(window[: cfg.frame_samples], dtype=_DTYPE)
            # Frames shared+1.. are new; pre-emphasis needs the sample before the first of them.
            tail = np.asarray(window[(shared + 1) * step - 1 :], dtype=_DTYPE)
            frames = np.concatenate([_frames(_preemphasis(first, cfg.preemphasis), 1, cfg),
                                     _frames(tail[1:] - cfg.preemphasis * tail[:-1], shift, cfg)])
            new = _mel_energies(frames, cfg)
            mel = np.concatenate([new[:1], self._mel[shift + 1 :], new[1:]])
        self._start, self._mel = start, mel
        return mel
