"""Speaker calibration: statistics of a speaker's normal voice, saved as a
profile that :class:`~livesense.recognizer.Recognizer` (``profile=``) and the
CLI (``--profile``) normalise that speaker's features by.

The speech comes from the first seconds of a recording or from a microphone;
it is checked (enough speech, and a voice rather than steady noise) before its
feature frames' mean and standard deviation become the profile. Used by
``livesense calibrate`` and by :meth:`Recognizer.calibrate`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .audio import stream_audio
from .features import FeatureConfig
from .frontend import StreamFrontEnd
from .model import EmotionModel
from .normalization import FeatureStats, save_profile, speech_frames

DEFAULT_SECONDS = 25.0  # audio taken for a profile, seconds
MIN_SPEECH_S = 5.0  # VAD speech below which a take is refused, seconds
# Share of voiced frames below which a take is noise, not a voice:
# white noise has none; in the corpora 99% of neutral clips have more than 15%.
MIN_VOICED = 0.10
MICROPHONE = "the microphone"  # how messages name a recorded take


class CalibrationError(Exception):
    """A take that cannot make a profile (too little speech, or noise); the
    message says what was heard and what to do."""


@dataclass
class Calibration:
    """A speaker profile, ready to :meth:`save`.

    Attributes:
        stats: mean and std of the take's speech frames, shape (features.n_features,) each.
        features: the features they are of: the model's, always with pitch.
        speech_s: seconds of VAD speech in the take.
    """

    stats: FeatureStats
    features: FeatureConfig
    speech_s: float

    @property
    def n_frames(self) -> int:
        """Speech feature frames the statistics are of."""
        return self.stats.n_frames

    def save(self, path: str | Path, inputs: Iterable[str | Path] = ()) -> None:
        """Write the profile (JSON) to ``path``, replacing any there only once
        it is whole, never over one of ``inputs`` (the files the profile was
        made from). Raises OutputError or OSError where it cannot be written
        (see :func:`~livesense.normalization.save_profile`)."""
        save_profile(path, self.stats, self.features, self.speech_s, inputs)


def profile_features(model: EmotionModel) -> FeatureConfig:
    """The features a profile for ``model`` holds: the model's, with pitch whatever
    the model: the noise check needs voicing, and a profile with pitch serves models
    without it too (see :func:`~livesense.normalization.load_profile`)."""
    return replace(model.features, pitch=True)


def calibrate_audio(audio: np.ndarray, model: EmotionModel, source: str) -> Calibration:
    """A profile from ``audio`` (mono float32 at the model's rate, shape (n,));
    ``source`` names where it came from in error messages.

    Raises:
        CalibrationError: less than :data:`MIN_SPEECH_S` of speech, or speech
            that is mostly unvoiced (fan, hiss: WebRTC VAD takes steady noise
            for speech; a voice is voiced).
    """
    config = profile_features(model)
    front_end = StreamFrontEnd(config, group=8)
    windows = front_end.run(audio)
    speech_s = front_end.heard_speech_s
    if speech_s < MIN_SPEECH_S:
        raise CalibrationError(
            f"only {speech_s:.1f} s of speech heard in {len(audio) / config.sample_rate:.1f} s from {source}; "
            f"at least {MIN_SPEECH_S:.0f} s are needed: speak in your normal voice and try again")
    # The VAD takes steady noise for speech; the front end keeps only windows that hold a voice.
    frames = speech_frames(windows, config)
    voiced = float((frames[:, config.voicing_column] >= config.voicing_threshold).mean()) if len(frames) else 0.0
    if len(frames) < 2 or voiced < MIN_VOICED:
        raise CalibrationError(
            f"the {speech_s:.1f} s of sound from {source} are noise, not a voice (only {voiced:.0%} of its "
            f"frames are voiced, speech has {MIN_VOICED:.0%} or more); speak in your normal voice, "
            "somewhere quieter, and try again")
    return Calibration(FeatureStats.from_frames(frames), config, speech_s)


def calibrate_file(path: str | Path, model: EmotionModel, seconds: float = DEFAULT_SECONDS) -> Calibration:
    """A profile from the first ``seconds`` of the recording at ``path`` (all of a shorter one).

    Raises:
        AudioError: missing or unreadable file.
        CalibrationError: see :func:`calibrate_audio`.
    """
    rate = model.features.sample_rate
    return calibrate_audio(_take(stream_audio(path, rate), int(seconds * rate)), model, str(path))


def record(seconds: float, sample_rate: int, device: str | int | None = None, samplerate: int | None = None,
           progress: Callable[[str, float], None] | None = None) -> np.ndarray:
    """``seconds`` of audio from an input device, mono float32 at ``sample_rate`` Hz.

    Args:
        device, samplerate: see :class:`~livesense.capture.Microphone` (None:
            the default device at its native rate).
        progress: called with the device's name and the seconds recorded so
            far: with 0 once the device is open, then after each 0.1 s block.
    Raises:
        DeviceError: no usable input device.
    """
    import threading

    from .capture import Microphone

    mic = Microphone(device, samplerate, target_rate=sample_rate)
    mic.open()
    report = None if progress is None else lambda total: progress(mic.name, total / sample_rate)
    try:
        if report is not None:
            report(0)
        return _take((block for block, _ in mic.blocks(threading.Event())), int(seconds * sample_rate), report)
    finally:
        mic.close()


def _take(blocks: Iterable[np.ndarray], limit: int, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Concatenate audio blocks until ``limit`` samples (fewer if they run out);
    ``progress(samples so far)`` after each block."""
    taken, total = [], 0
    for block in blocks:
        taken.append(block[: limit - total])
        total += len(taken[-1])
        if progress is not None:
            progress(total)
        if total >= limit:
            break
    return np.concatenate(taken) if taken else np.zeros(0, np.float32)
