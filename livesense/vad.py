"""Voice activity detection with WebRTC's VAD (a GMM speech model, not an energy gate)."""
from __future__ import annotations

import numpy as np
import webrtcvad

VAD_FRAME_S = 0.030  # webrtcvad accepts 10, 20 or 30 ms frames


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

    def speech_mask(self, audio: np.ndarray) -> np.ndarray:
        """Boolean per whole 30 ms frame of ``audio`` (float in [-1, 1]), shape (n // 480,)."""
        n = len(audio) // self.frame_samples
        pcm = (np.clip(audio[: n * self.frame_samples], -1.0, 1.0) * 32767).astype("<i2")
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
