"""Features (MFCC, pitch): the one place in livesense that turns audio into model input.

Training and runtime both call :func:`compute_features` with the
:class:`FeatureConfig` stored in the model's ONNX metadata, so what a model was
trained on is exactly what it is fed at run time. The pieces of that function
(:func:`frame_view`, :func:`analyze_frames`, :func:`window_features`) are public
because the stream front end (:mod:`livesense.frontend`) computes each frame of
overlapping windows once and finishes a group of windows in one call, with the
same results. This module is the configuration and the pure DSP; it keeps no state.

The MFCC are python_speech_features' (its pre-emphasis, power spectrum, mel
filterbank, DCT and lifter), with a Hamming analysis window instead of its
rectangular default, a floor relative to the window's loudest band and (with
``FeatureConfig.relative_level``) energies taken relative to that band. With
``FeatureConfig.pitch`` each frame also carries its voicing strength and log F0,
from the autocorrelation of the same (pre-emphasised, windowed) frame. They are
computed in float32 (but for the mel filterbank product): 16-bit audio holds no
more precision, results stay within about 2e-6 of each coefficient's range of a
float64 computation, and the FFT and the logarithm take about half the time.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np
import python_speech_features as psf
import scipy.fft
from scipy.fftpack import dct  # the DCT python_speech_features uses


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the feature pipeline (all times in seconds).

    ``window_s`` / ``hop_s`` describe the sliding analysis windows the model
    classifies; ``frame_s`` / ``frame_hop_s`` the feature frames inside a window.
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
    # Mel energies are taken relative to the window's loudest band energy, so
    # no coefficient (c0 included) moves with the microphone's gain: without it
    # c0 is the level against full scale, and a louder microphone reads as a
    # louder voice. Models made before this existed have it off.
    relative_level: bool = False
    # Pitch: each frame's voicing strength (peak of its normalised
    # autocorrelation, 0..1) and log fundamental frequency, searched between
    # these bounds; frames weaker than the threshold count as unvoiced. MFCC
    # barely carry pitch, which is among the most speaker-independent cues to
    # arousal once it is judged against the speaker's own range.
    pitch: bool = True
    pitch_min_hz: float = 60.0
    pitch_max_hz: float = 400.0
    voicing_threshold: float = 0.45
    voicing_range_db: float = 40.0

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
            if self.hop_samples > self.window_samples or self.frame_hop_samples > self.frame_samples:
                problems.append("a hop is longer than its window or frame (audio between them would be skipped)")
            if not (isinstance(self.n_fft, int) and self.frame_samples <= self.n_fft <= _MAX_FFT):
                problems.append(f"n_fft {self.n_fft!r} is not an integer from one frame to {_MAX_FFT}")
            if self.window_samples < self.frame_samples:
                problems.append("window_s must hold at least one frame")
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
                and isinstance(self.deltas, bool) and isinstance(self.pitch, bool)
                and isinstance(self.relative_level, bool)):
            problems.append("n_fft and cepstral_lifter must be integers (lifter >= 0), deltas, pitch and "
                            "relative_level true or false")
        if self.pitch and not problems:
            # The longest period searched must leave enough of a frame to correlate
            # with: beyond _MAX_PERIOD_SHARE of it, the window's own taper dominates.
            lowest = self.sample_rate / (_MAX_PERIOD_SHARE * self.frame_samples)
            if not (isinstance(self.pitch_min_hz, (int, float)) and isinstance(self.pitch_max_hz, (int, float))
                    and lowest <= self.pitch_min_hz < self.pitch_max_hz < self.sample_rate / 4):
                problems.append(f"pitch range {self.pitch_min_hz!r}-{self.pitch_max_hz!r} Hz must lie within "
                                f"{lowest:.1f}-{self.sample_rate / 4:.0f} Hz for {self.frame_s!r} s frames")
            if not (isinstance(self.voicing_threshold, (int, float)) and 0 < self.voicing_threshold < 1):
                problems.append(f"voicing_threshold {self.voicing_threshold!r} is not a number in (0, 1)")
            if not (isinstance(self.voicing_range_db, (int, float)) and self.voicing_range_db > 0):
                problems.append(f"voicing_range_db {self.voicing_range_db!r} is not a positive number")
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
        """Number of feature frames in one analysis window."""
        return 1 + (self.window_samples - self.frame_samples) // self.frame_hop_samples

    @property
    def n_features(self) -> int:
        """Feature dimensions per frame: MFCC, their deltas if enabled, then
        voicing strength and log F0 if ``pitch``."""
        return self.n_mfcc * (2 if self.deltas else 1) + (2 if self.pitch else 0)

    @property
    def voicing_column(self) -> int | None:
        """Index of the voicing strength among a frame's features (log F0 follows
        it, last); None without pitch."""
        return self.n_features - 2 if self.pitch else None

    def to_dict(self) -> dict:
        return asdict(self)

    def shaping_parameters(self) -> dict:
        """:meth:`to_dict` without the pitch parameters when ``pitch`` is off:
        then they shape nothing (a model card lists only what matters)."""
        unused = _PITCH_PARAMETERS if not self.pitch else ()
        return {k: v for k, v in self.to_dict().items() if k not in unused}

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown feature parameters: {sorted(unknown)}")
        # Models and profiles written before pitch or relative levels existed have neither.
        return cls(**{"pitch": False, "relative_level": False, **values})


_WINDOWS = {"hamming": np.hamming, "hann": np.hanning}
_DTYPE = np.float32  # of every intermediate array (see the module docstring)
_ABSOLUTE_FLOOR = 1e-12  # for windows of digital silence (a normal float32)
_DELTA_SPAN = 2  # frames either side in the delta regression
_MAX_ROWS = 50  # frames whose spectra are taken in one call (see analyze_frames)
_MAX_FFT = 1 << 16  # 4 s at 16 kHz: far beyond any speech frame, small enough to allocate
_MAX_PERIOD_SHARE = 0.6  # longest pitch period searched, as a share of a frame
_PITCH_PARAMETERS = ("pitch_min_hz", "pitch_max_hz", "voicing_threshold", "voicing_range_db")


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
    # 1 / n_fft of the power spectrum folded into the filterbank; float64 (see analyze_frames).
    filterbank = np.ascontiguousarray(filterbank.T / config.n_fft)
    dct_matrix = psf.base.lifter(dct(np.eye(config.n_mels), type=2, axis=1, norm="ortho")[:, : config.n_mfcc],
                                 config.cepstral_lifter)
    return window.astype(_DTYPE), filterbank, dct_matrix.astype(_DTYPE)


def frame_view(emphasized: np.ndarray, n_frames: int, config: FeatureConfig) -> np.ndarray:
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


def analyze_frames(frames: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """What each frame contributes to the features: its mel band energies and,
    with ``config.pitch``, its voicing strength and log F0 (see :func:`_pitch`).

    Args:
        frames: float32, shape (n >= 2, frame_samples).
    Returns:
        float64, shape (n, n_mels) or (n, n_mels + 2). Each row depends only on
        its own frame, to the last bit, for any n >= 2 (a single row takes
        another BLAS path; the engine always computes two or more, as each
        window adds its first frame and at least one new one).
    """
    # A whole window's frames at once make arrays large enough to be mapped
    # fresh from the OS on every call, and page faults then cost more than the
    # FFTs: the spectra are taken in pieces of at most _MAX_ROWS (and at least
    # 2) frames. The pitch search, a dozen NumPy calls whose cost is mostly per
    # call, runs once over all rows.
    pieces = np.array_split(frames, -(-len(frames) // _MAX_ROWS)) if len(frames) > _MAX_ROWS else [frames]
    spectra = [_spectra(piece, config) for piece in pieces]
    mel = _rows([piece_mel for piece_mel, _ in spectra])
    if not config.pitch:
        return mel
    return np.concatenate([mel, _pitch(_rows([lags for _, lags in spectra]), config)], axis=1)


def _rows(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays' rows one after another; a single array as it is, not copied."""
    return np.concatenate(arrays) if len(arrays) > 1 else arrays[0]


def _spectra(frames: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Mel band energies, float64 (n, n_mels), and with ``config.pitch`` the
    autocorrelation at lags 0 .. longest + 1 of :func:`_pitch_lags`, float32
    (n, longest + 2), of frames (float32, (n, frame_samples))."""
    window, filterbank, _ = _constants(config)
    # With pitch, the FFT is twice as long: its even bins are the n_fft-point
    # spectrum, and the whole power spectrum gives the frame's linear (not
    # circular) autocorrelation.
    length = 2 * config.n_fft if config.pitch else config.n_fft
    # python_speech_features' powspec, |X|^2 / n_fft, without its square root and
    # square; scipy's FFT, a third faster than numpy's at these sizes, on frames
    # zero-padded here (padding inside scipy is up to three times slower).
    padded = np.zeros((len(frames), length), dtype=_DTYPE)
    np.multiply(frames, window, out=padded[:, : config.frame_samples])
    spectrum = scipy.fft.rfft(padded)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    # The filterbank product in float64: float32 BLAS rounds a row differently
    # depending on how many rows share the call, and the engine computes a
    # window's frames in other groups than compute_features does.
    mel = power[:, :: length // config.n_fft].astype(np.float64) @ filterbank
    if not config.pitch:
        return mel, None
    _, longest, _, _ = _pitch_lags(config)
    # The inverse FFT of a real, even spectrum is a DCT-I: half the work of irfft
    # (the scale, 2 * n_fft, cancels in _pitch). The power spectrum is not
    # needed after this: the DCT may overwrite it.
    return mel, scipy.fft.dct(power, type=1, axis=1, overwrite_x=True)[:, : longest + 2]


def _pitch(autocorrelation: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Voicing strength and log F0 (natural log of Hz) of frames, float64 (n, 2),
    from their autocorrelation at lags 0 .. longest + 1 (float32, see :func:`_spectra`).

    The autocorrelation, divided by that of the analysis window (which tapers
    it), peaks at the pitch period; its height there is the voicing strength.
    Of the peaks within 15% of the highest, the shortest period is taken:
    multiples of the period peak almost as high (octave errors).
    """
    shortest, _, inverse_taper, log_f0_of_lag = _pitch_lags(config)
    # Lags shortest-1 .. longest+1, so that each lag searched has both neighbours;
    # divided by the frame's energy (lag 0) only where it matters, at the peak.
    untapered = autocorrelation[:, shortest - 1 :] * inverse_taper
    rising = untapered[:, 1:] >= untapered[:, :-1]
    # A peak: rising into the lag, not rising out of it (True > False).
    peaks = np.where(rising[:, :-1] > rising[:, 1:], untapered[:, 1:-1], -np.inf)
    best = peaks.max(axis=1)
    chosen = np.argmax(peaks >= 0.85 * best[:, None], axis=1)
    energy = np.maximum(autocorrelation[:, 0], _ABSOLUTE_FLOOR)
    result = np.empty((len(autocorrelation), 2))
    # A frame without any peak has -inf there: strength 0, unvoiced.
    np.clip(peaks[np.arange(len(peaks)), chosen] / energy, 0.0, 1.0, out=result[:, 0])
    result[:, 1] = log_f0_of_lag[chosen]
    return result


@lru_cache(maxsize=8)
def _pitch_lags(config: FeatureConfig) -> tuple[int, int, np.ndarray, np.ndarray]:
    """What :func:`_pitch` needs for ``config``: the shortest and longest lag
    (samples) it searches, from the pitch range; the reciprocal of the analysis
    window's autocorrelation (relative to lag 0) at lags shortest - 1 ..
    longest + 1, float32; and the log F0 of each lag shortest .. longest, float64."""
    shortest = int(math.ceil(config.sample_rate / config.pitch_max_hz))
    longest = int(config.sample_rate / config.pitch_min_hz)
    window = _WINDOWS[config.analysis_window](config.frame_samples)
    window_autocorrelation = np.correlate(window, window, "full")[len(window) - 1 :]
    inverse_taper = window_autocorrelation[0] / window_autocorrelation[shortest - 1 : longest + 2]
    return shortest, longest, inverse_taper.astype(_DTYPE), np.log(config.sample_rate / np.arange(shortest, longest + 1))


# y[n] = x[n] - c * x[n-1], with y[0] = x[0]: it restarts at the signal's start.
preemphasis = psf.sigproc.preemphasis


def window_features(analysis: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Features of windows from their frames' :func:`analyze_frames` rows.

    Args:
        analysis: float64, shape (n_frames, n_mels [+ 2]) for one window or
            (n_windows, n_frames, n_mels [+ 2]) for several; the floor, the
            deltas and the log F0 of unvoiced frames depend on each whole window.
    Returns:
        float32, shape (..., n_frames, ``config.n_features``): MFCC, deltas,
        voicing strength, log F0.
    """
    _, _, dct = _constants(config)
    mel_energy = analysis[..., : config.n_mels]
    loudest = np.maximum(mel_energy.max(axis=(-2, -1), keepdims=True), _ABSOLUTE_FLOOR)
    floored = np.maximum(mel_energy, loudest * 10 ** (-config.dynamic_range_db / 10))
    if config.relative_level:
        floored /= loudest  # a ratio, which a gain does not change (see FeatureConfig)
    # float32 from here; the product runs window by window (stacked matmul), so a
    # window's features do not depend on the others in the call.
    cepstra = np.log(floored.astype(_DTYPE)) @ dct
    if not (config.deltas or config.pitch):
        return cepstra
    m = config.n_mfcc
    result = np.empty(cepstra.shape[:-1] + (config.n_features,), dtype=np.float32)
    result[..., :m] = cepstra
    if config.deltas:
        # python_speech_features' delta (regression over +-2 frames, the edge frames
        # repeated), vectorised: psf.delta loops over frames in Python, and this runs
        # for every window.
        n, span = cepstra.shape[-2], _DELTA_SPAN
        padded = np.concatenate([cepstra[..., :1, :].repeat(span, -2), cepstra,
                                 cepstra[..., -1:, :].repeat(span, -2)], axis=-2)
        delta = padded[..., span + 1 : span + 1 + n, :] - padded[..., span - 1 : span - 1 + n, :]
        for i in range(2, span + 1):
            delta += i * (padded[..., span + i : span + i + n, :] - padded[..., span - i : span - i + n, :])
        result[..., m : 2 * m] = delta / (2 * sum(i * i for i in range(1, span + 1)))
    if config.pitch:
        strength, log_f0 = analysis[..., config.n_mels], analysis[..., config.n_mels + 1]
        # Frames far below the window's loudest are pauses: their "pitch" is the
        # room's hum or the corpus's noise floor, so they count as unvoiced.
        frame_energy = mel_energy.sum(axis=-1)
        loud = frame_energy >= frame_energy.max(axis=-1, keepdims=True) * 10 ** (-config.voicing_range_db / 10)
        strength = np.where(loud, strength, 0.0)
        voiced = strength >= config.voicing_threshold
        # An unvoiced frame has no pitch: it takes the mean log F0 of the window's
        # voiced frames (the middle of the search range if none), so that the
        # pitch statistics describe the voice, not the pauses and consonants.
        count = voiced.sum(axis=-1, keepdims=True)
        middle = 0.5 * math.log(config.pitch_min_hz * config.pitch_max_hz)
        mean = np.where(count > 0, np.where(voiced, log_f0, 0.0).sum(axis=-1, keepdims=True) / np.maximum(count, 1),
                        middle)
        result[..., -2] = strength
        result[..., -1] = np.where(voiced, log_f0, mean)
    return result


def frame_count(n_samples: int, config: FeatureConfig) -> int:
    """Whole feature frames in ``n_samples`` samples (no padding), >= 0."""
    return max(0, 1 + (n_samples - config.frame_samples) // config.frame_hop_samples)


def compute_features(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC (+ deltas, + pitch) of a 16 kHz mono signal.

    Args:
        signal: float samples in [-1, 1] at ``config.sample_rate``, shape (n,).
            Frames are taken only where a whole frame fits (no padding), so a
            window of ``config.window_samples`` gives ``config.frames_per_window``.
    Returns:
        float32 array of shape (frames, ``config.n_features``).
    """
    signal = np.asarray(signal, dtype=_DTYPE)
    n_frames = frame_count(len(signal), config)
    if n_frames < 1:
        return np.zeros((0, config.n_features), dtype=np.float32)
    # Training and runtime both call this once per analysis window, so
    # pre-emphasis and deltas restart at each window's edges in both alike.
    emphasized = preemphasis(signal, config.preemphasis)
    return window_features(analyze_frames(frame_view(emphasized, n_frames, config), config), config)
