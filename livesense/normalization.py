"""Speaker normalisation of feature frames, shared by training and runtime.

A model trained with ``normalization = "speaker"`` expects each frame to be
standardised by statistics of the speaker's own voice: in training, the mean and
standard deviation of that speaker's neutral speech; at run time, a calibration
profile (``livesense calibrate``) or, without one, running statistics of the
session's speech so far, started from the training corpora's global statistics.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .features import FeatureConfig
from .frontend import AnalysedWindow
from .writing import replacing

PROFILE_FORMAT = "livesense-profile-1"
# Smallest std we divide by, so a constant dimension cannot blow up.
_MIN_STD = 1e-3
# Smallest std a profile may hold for any feature: below it the feature stayed
# still through seconds of speech, which no voice does (the smallest in real
# profiles, of voicing and log F0, are about 0.1 to 0.3). Normalised by such a
# std, every frame is extreme and one class takes all.
MIN_PROFILE_STD = 0.01
# Largest magnitude of the natural log of a positive float32 (the smallest
# subnormal is 1.4e-45): bounds every log mel energy, whatever the audio.
_MAX_LOG_ENERGY = 104.0


class ProfileError(Exception):
    """A calibration profile that is missing, corrupt or made for other features."""


@dataclass
class FeatureStats:
    """Per-dimension mean and std of feature frames, shape (n_features,) each."""

    mean: np.ndarray
    std: np.ndarray
    n_frames: int

    @classmethod
    def from_frames(cls, frames: np.ndarray) -> "FeatureStats":
        """Statistics of ``frames``, shape (n, n_features), n >= 2."""
        frames = np.asarray(frames, dtype=np.float64)
        return cls(frames.mean(axis=0), frames.std(axis=0), len(frames))

    def leading(self, n: int) -> "FeatureStats":
        """The statistics of the first ``n`` features only: a profile, which always
        has the pitch columns last, for a model without them."""
        return FeatureStats(self.mean[:n], self.std[:n], self.n_frames)

    def normalize(self, features: np.ndarray) -> np.ndarray:
        """Standardise ``features`` (..., n_features) with these statistics, float32."""
        return ((features - self.mean) / np.maximum(self.std, _MIN_STD)).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "n_frames": int(self.n_frames)}

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureStats":
        """Raises ValueError, KeyError or TypeError for anything but finite numbers (std >= 0)."""
        mean, std = np.asarray(values["mean"], dtype=np.float64), np.asarray(values["std"], dtype=np.float64)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)):
            raise ValueError("statistics hold NaN, infinite or negative values")
        return cls(mean, std, int(values["n_frames"]))


@dataclass
class ProfileAdjustment:
    """Maps statistics of neutral speech to those of a speaker's speech at large.

    Models trained on speakers normalised by *all* their speech expect that
    reference; a calibration profile holds only neutral speech, whose mean and
    spread are lower. The training speakers' average difference (``mean_shift``
    added, ``std_ratio`` multiplied, per dimension) bridges the two.
    """

    mean_shift: np.ndarray
    std_ratio: np.ndarray

    @classmethod
    def between(cls, neutral: list[FeatureStats], overall: list[FeatureStats]) -> "ProfileAdjustment":
        """Average adjustment over speakers, given each one's neutral and overall statistics."""
        shift = np.mean([o.mean - n.mean for n, o in zip(neutral, overall)], axis=0)
        ratio = np.exp(np.mean([np.log(np.maximum(o.std, _MIN_STD) / np.maximum(n.std, _MIN_STD))
                                for n, o in zip(neutral, overall)], axis=0))
        return cls(shift, ratio)

    def apply(self, neutral: FeatureStats) -> FeatureStats:
        return FeatureStats(neutral.mean + self.mean_shift, neutral.std * self.std_ratio, neutral.n_frames)

    def to_dict(self) -> dict:
        return {"mean_shift": self.mean_shift.tolist(), "std_ratio": self.std_ratio.tolist()}

    @classmethod
    def from_dict(cls, values: dict) -> "ProfileAdjustment":
        return cls(np.asarray(values["mean_shift"]), np.asarray(values["std_ratio"]))


PRIOR_FRAMES = 500
# Feature column of the level term, c0: the one a microphone's gain moves.
LEVEL_COLUMN = 0


class RunningStats:
    """Mean and std of the speech frames seen so far, blended with a prior.

    The prior (the training corpora's global statistics) counts as
    ``prior_frames`` frames, so the first seconds of a session are normalised
    sensibly and the user's voice takes over as speech accumulates. With
    ``level_prior_frames`` the level term (c0) has a prior of its own weight: 0
    makes it the stream's own level from its first window, since no prior can
    know the microphone's gain (any weight above 0 pulls it towards the corpora's
    level, by more the further the gain is from theirs).
    """

    def __init__(self, prior: FeatureStats, prior_frames: int = PRIOR_FRAMES, level_prior_frames: int | None = None):
        counts = np.full(len(prior.mean), float(prior_frames))
        if level_prior_frames is not None:
            counts[LEVEL_COLUMN] = level_prior_frames
        self._count = counts
        self._sum = prior.mean * counts
        self._sum_sq = (prior.std**2 + prior.mean**2) * counts


def normalize_running(running: RunningStats, windows: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Normalise a stream's speech windows in order, as the engine does without a
    profile: each window's speech frames update ``running`` before that window is
    standardised by its current statistics.

    Args:
        windows: raw features, float32 (k, frames, n_features).
        speech: which frames of each window are speech, bool (k, frames).
    Returns:
        float32 (k, frames, n_features); ``running`` is left updated.

    All ``k`` windows at once: the sums of each window's speech frames (the zeros
    elsewhere add nothing) accumulate in window order (``cumsum``), so a group
    gives, to the bit, what its windows give one at a time (live mode).
    """
    in_speech = np.where(speech[..., None], windows.astype(np.float64), 0.0)
    counts = running._count + np.cumsum(speech.sum(axis=1))[:, None]
    sums = np.cumsum(np.concatenate([running._sum[None], in_speech.sum(axis=1)]), axis=0)[1:]
    squares = np.cumsum(np.concatenate([running._sum_sq[None], (in_speech**2).sum(axis=1)]), axis=0)[1:]
    running._count, running._sum, running._sum_sq = counts[-1], sums[-1], squares[-1]
    count = np.maximum(counts, 1e-9)
    mean = sums / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return ((windows - mean[:, None]) / np.maximum(std, _MIN_STD)[:, None]).astype(np.float32)


def speech_frames(windows: list[AnalysedWindow], config: FeatureConfig) -> np.ndarray:
    """The feature frames that running statistics take from a recording's windows
    (:func:`~livesense.frontend.recording_windows`): the frames in speech of each
    speech window (see :mod:`livesense.windows`). Frames in several overlapping
    windows count once per window, as they do at run time.
    Returns float32, shape (n, ``config.n_features``); n may be 0.
    """
    chosen = [w.features[w.speech_frames] for w in windows if w.is_speech]
    return np.concatenate(chosen) if chosen else np.zeros((0, config.n_features), np.float32)


def feature_ranges(config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest value each of ``config``'s features can take, as
    :mod:`livesense.features` computes them; shape (n_features,) each.

    A cepstral coefficient is the log mel energies times a column of the
    orthonormal DCT (norm 1), liftered by at most 1 + L/2: by Cauchy-Schwarz
    within sqrt(n_mels) * :data:`_MAX_LOG_ENERGY` * (1 + L/2). A delta is a
    difference of such coefficients with weights of magnitudes summing to 3/5:
    within the same. Voicing strength is 0..1; log F0 lies in the log of the
    pitch search range, also where a frame is unvoiced (it takes the voiced mean).
    """
    cepstral = math.sqrt(config.n_mels) * _MAX_LOG_ENERGY * (1 + max(config.cepstral_lifter, 0) / 2)
    low, high = np.full(config.n_features, -cepstral), np.full(config.n_features, cepstral)
    if config.pitch:
        low[-2:] = 0.0, math.log(config.pitch_min_hz)
        high[-2:] = 1.0, math.log(config.pitch_max_hz)
    return low, high


def _check_voice_stats(stats: FeatureStats, config: FeatureConfig) -> None:
    """Raise ValueError unless ``stats`` are ones speech can have in ``config``'s
    features: each mean within the feature's range, each std at most half of it
    (the largest spread values in a range can have) and at least
    :data:`MIN_PROFILE_STD`."""
    low, high = feature_ranges(config)
    if np.any(stats.mean < low) or np.any(stats.mean > high):
        raise ValueError("a mean outside the range its feature can take")
    if np.any(stats.std > (high - low) / 2):
        raise ValueError("a std larger than its feature's range allows")
    if np.any(stats.std < MIN_PROFILE_STD):
        raise ValueError(f"a std below {MIN_PROFILE_STD}: a feature that never varied, which no voice gives")


def save_profile(path: str | Path, stats: FeatureStats, config: FeatureConfig, speech_seconds: float,
                 inputs: Iterable[str | Path] = ()) -> None:
    """Write a calibration profile (small JSON file) for ``config``'s features
    to ``path``, replacing any there only once it is whole.

    Raises:
        OutputError: ``path`` is no file to write, or one of ``inputs`` (see
            :mod:`livesense.writing`).
        OSError: it cannot be written.
    """
    payload = {
        "format": PROFILE_FORMAT,
        "features": config.to_dict(),
        "speech_seconds": round(speech_seconds, 2),
        "stats": stats.to_dict(),
    }
    with replacing(path, inputs) as file:
        file.write(json.dumps(payload, allow_nan=False).encode())


def load_profile(path: str | Path, config: FeatureConfig) -> FeatureStats:
    """Read a profile written by :func:`save_profile` for ``config``'s features, or
    for the same features with pitch (a profile with pitch serves a model without)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file; create one with 'livesense calibrate'") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"{path}: cannot read the profile ({getattr(err, 'strerror', None) or err}); "
                           "make it readable or run 'livesense calibrate' again") from None
    try:
        payload = json.loads(text)
        if not isinstance(payload, dict) or payload.get("format") != PROFILE_FORMAT:
            raise ValueError("not a livesense profile")
        stats = FeatureStats.from_dict(payload["stats"])
        features = FeatureConfig.from_dict(payload["features"])
    except RecursionError:  # brackets nested thousands deep
        raise ProfileError(f"{path}: not a valid livesense profile (nested too deep); "
                           "run 'livesense calibrate' again") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as err:
        raise ProfileError(f"{path}: not a valid livesense profile ({err}); run 'livesense calibrate' again") from None
    if stats.mean.shape != (features.n_features,) or stats.std.shape != (features.n_features,):
        raise ProfileError(f"{path}: profile has the wrong size for its features; run 'livesense calibrate' again")
    try:
        _check_voice_stats(stats, features)
    except ValueError as err:
        raise ProfileError(f"{path}: profile holds statistics no voice has ({err}); "
                           "run 'livesense calibrate' again") from None
    if features == config:
        return stats
    # Pitch columns come last, so a profile with them serves a model without them.
    if features.pitch and replace(features, pitch=False) == config:
        return stats.leading(config.n_features)
    raise ProfileError(f"{path}: profile was made for different features than this model; run "
                       "'livesense calibrate --model MODEL' with this model")
