"""Voice activity detection with WebRTC's VAD (a GMM speech model, not an energy gate).

WebRTC VAD ignores frames below a fixed energy, so speech recorded quietly (a far
or low-gain microphone) went unheard, and what it hears of the rest depends on
the level. Its input is levelled: a stream's recent loudest frames are brought
to :data:`VAD_TARGET_PEAK_DBFS`, raised by at most :data:`VAD_MAX_GAIN_DB` or
lowered, so that the same speech is judged alike whatever the microphone's gain.
The loudest level is a peak that decays by :data:`VAD_PEAK_DECAY_DB` per frame,
so pauses and room noise are not raised to the level of speech. Noise that the
VAD still takes for speech is rejected by the front end's voicing check
(:func:`~livesense.frontend.holds_voice`).
"""
from __future__ import annotations

import numpy as np
import webrtcvad

VAD_FRAME_S = 0.030  # webrtcvad accepts 10, 20 or 30 ms frames
VAD_TARGET_PEAK_DBFS = -20.0  # RMS level of a 30 ms frame that the recent loudest is brought to
VAD_MAX_GAIN_DB = 30.0
VAD_PEAK_DECAY_DB = 0.1  # per 30 ms frame: 3.3 dB a second
_SILENT_DBFS = -120.0  # level of a frame of digital silence


def vad_frame_samples(sample_rate: int) -> int:
    """Samples in one 30 ms VAD frame at ``sample_rate``."""
    return int(VAD_FRAME_S * sample_rate)


class SpeechDetector:
    """Marks 30 ms frames of 16 kHz audio as speech or not.

    Args:
        aggressiveness: 0 (keeps most audio as speech) to 3 (strictest).
        sample_rate: 8000, 16000, 32000 or 48000 Hz.
    """

    def __init__(self, aggressiveness: int = 2, sample_rate: int = 16000):
        self._vad = webrtcvad.Vad(aggressiveness)
        self.sample_rate = sample_rate
        self.frame_samples = vad_frame_samples(sample_rate)
        # Decaying peak of the frames judged so far, in steps of VAD_PEAK_DECAY_DB.
        self._peak_steps = int(_SILENT_DBFS / VAD_PEAK_DECAY_DB)

    def speech_mask(self, audio: np.ndarray) -> np.ndarray:
        """Boolean per whole 30 ms frame of ``audio`` (float in [-1, 1]), shape (n // 480,).
        Successive calls continue one stream (the input level is tracked across them)."""
        n = len(audio) // self.frame_samples
        if n == 0:
            return np.zeros(0, dtype=bool)
        frames = audio[: n * self.frame_samples].reshape(n, self.frame_samples).astype(np.float64)
        power = np.einsum("ij,ij->i", frames, frames) / self.frame_samples
        # Levels in whole steps of the decay, as integers: the peak then comes out the
        # same to the last bit however the stream is split into calls.
        steps = np.floor(10 * np.log10(np.maximum(power, 10 ** (_SILENT_DBFS / 10))) / VAD_PEAK_DECAY_DB)
        # peak[i] = max(level[i], peak[i - 1] - 1 step), for all frames at once.
        ramp = np.arange(1, n + 1)
        peak = np.maximum.accumulate(np.maximum(steps.astype(np.int64) + ramp, self._peak_steps)) - ramp
        self._peak_steps = int(peak[-1])
        gain = 10 ** (np.minimum(VAD_TARGET_PEAK_DBFS - peak * VAD_PEAK_DECAY_DB, VAD_MAX_GAIN_DB) / 20)
        # In place on the copy: np.clip's new arrays cost as much as the VAD itself.
        frames *= gain[:, None]
        np.clip(frames, -1.0, 1.0, out=frames)
        frames *= 32767
        pcm = frames.astype("<i2")
        step = self.frame_samples * 2
        raw = pcm.tobytes()
        is_speech, rate = self._vad.is_speech, self.sample_rate
        return np.array([is_speech(raw[i : i + step], rate) for i in range(0, n * step, step)], dtype=bool)


def speech_mask(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """:meth:`SpeechDetector.speech_mask` of one whole recording (a clip, a calibration
    take), judged by a fresh detector: WebRTC VAD adapts to what it has heard, so a
    detector shared between recordings would judge each by the ones before it. The
    streaming engine keeps its own detector, one per stream, for the same reason."""
    return SpeechDetector(sample_rate=sample_rate).speech_mask(audio)
