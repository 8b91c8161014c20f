"""The streaming engine: every mode (file, listen, demo, Python API) runs audio through it.

Audio arrives as 1-D float32 chunks of any size at the model's sample rate
(16 kHz). A :class:`~livesense.frontend.StreamFrontEnd` buffers it, runs the
VAD and cuts the windows of :mod:`livesense.windows`, each with its speech
share, level and (for speech) raw features. The engine then, per group of windows:

1. normalisation: running statistics of the session's speech frames, updated
   window by window before each window is normalised, started from a
   calibration profile if given, else from the model's global statistics;
2. the ONNX model gives class probabilities, one call per group; a model
   with a voice head mixes in the emotion its head reads from each window's
   voice features (:mod:`livesense.voice`);
3. smoothing: an exponential moving average over speech windows, so the
   readout does not flicker; the raw probabilities are kept alongside.

Every step depends only on the audio and on earlier windows, never on how the
audio was split into chunks, so chunked and whole feeding give identical
results. By default each speech window has its own ONNX call, so its result
is out as soon as its audio is in (live use); with ``batch`` > 1 (file
analysis) groups of that many speech windows share one call, which is up to
twice as fast per window. Groups are fixed by the sequence of windows, not by
the chunks, so chunking still changes nothing; a batched call may round
differently from single ones (ONNX Runtime's x86 kernels give identical rows
for the shipped graphs, but nothing promises it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .frontend import DEFAULT_SPEECH_THRESHOLD, AnalysedWindow, StreamFrontEnd
from .model import EmotionModel
from .normalization import FeatureStats, RunningStats, normalize_running
from .voice import RunningVoice

SILENCE = "silence"
# EMA weight of the newest window: with windows overlapping by 3/4 at the
# default hop, 0.4 settles within about 1.5 s of a change of emotion.
DEFAULT_SMOOTHING = 0.4
# After this much continuous silence the EMA restarts, so a new utterance is
# not coloured by the emotion of one long ago.
DEFAULT_SILENCE_RESET_S = 5.0
__all__ = ["DEFAULT_SMOOTHING", "DEFAULT_SPEECH_THRESHOLD", "SILENCE", "StreamEngine", "WindowResult"]


@dataclass
class WindowResult:
    """One analysis window.

    Times are seconds from the start of the stream. For silence windows
    ``label`` is ``"silence"`` and the probability fields, ``confidence`` and
    ``raw_label`` are None.
    """

    index: int
    start_s: float
    end_s: float
    is_speech: bool
    speech_fraction: float  # share of 30 ms VAD frames judged speech, 0..1
    level_dbfs: float  # RMS level of the window in dB full scale (<= 0)
    label: str  # smoothed emotion, or "silence"
    confidence: float | None  # smoothed probability of ``label``
    probabilities: dict[str, float] | None  # smoothed, sums to 1
    raw_label: str | None  # argmax of this window alone
    raw_probabilities: dict[str, float] | None  # this window alone, sums to 1
    # Wall-clock processing time; excluded from equality so that runs compare equal.
    compute_s: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready record (rounded: 3 decimals for times, 4 for probabilities)."""

        def probs(values):
            return None if values is None else {k: round(v, 4) for k, v in values.items()}

        return {
            "start": round(self.start_s, 3),
            "end": round(self.end_s, 3),
            "speech": self.is_speech,
            "speech_fraction": round(self.speech_fraction, 3),
            "level_dbfs": round(self.level_dbfs, 1),
            "label": self.label,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "probabilities": probs(self.probabilities),
            "raw_label": self.raw_label,
            "raw_probabilities": probs(self.raw_probabilities),
        }


class StreamEngine:
    """Turns a stream of audio chunks into :class:`WindowResult` objects.

    Args:
        model: the loaded model; its metadata fixes sample rate, window and hop.
        profile: speaker statistics from ``livesense calibrate``; without one
            the engine normalises with running statistics of the speech so far.
        speech_threshold: minimum share of VAD speech frames for a window to
            be classified (0..1).
        smoothing: EMA weight of the newest window (1.0 = no smoothing).
        silence_reset_s: seconds of continuous silence after which the EMA restarts.
        vad_aggressiveness: WebRTC VAD mode, 0 (lenient) to 3 (strict).
        batch: speech windows per ONNX call; results wait until a group is
            complete (or the stream ends). 1 for live use.
        profile_adapts: with a profile, start running statistics from it (counted
            as the frames it was made of), so that the session's own speech
            refines it; False: normalise by the profile alone. Measured on
            cross-corpus sessions, adapting scored higher in 7 of 9 comparisons
            (models/reports/recipe-experiments.md, session 10).

    Memory is bounded by ``window + hop`` samples whatever the chunk sizes
    (plus ``batch`` windows' frames and features).
    """

    def __init__(
        self,
        model: EmotionModel,
        profile: FeatureStats | None = None,
        *,
        speech_threshold: float = DEFAULT_SPEECH_THRESHOLD,
        smoothing: float = DEFAULT_SMOOTHING,
        silence_reset_s: float = DEFAULT_SILENCE_RESET_S,
        vad_aggressiveness: int = 2,
        batch: int = 1,
        profile_adapts: bool = True,
    ):
        if not 0.0 < smoothing <= 1.0:
            raise ValueError("smoothing must be in (0, 1]")
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.model = model
        self.config = model.features
        self.labels = list(model.labels)
        self.speech_threshold = speech_threshold
        self.smoothing = smoothing
        self.silence_reset_s = silence_reset_s
        self.batch = batch
        self._profile = self._running = None
        if profile is None:
            self._running = RunningStats(model.info.global_stats, level_prior_frames=model.info.level_prior_frames)
        elif profile_adapts:
            self._running = RunningStats(model.info.speaker_stats(profile), prior_frames=profile.n_frames)
        else:
            self._profile = model.info.speaker_stats(profile)
        head = model.info.voice_head
        self._voice = RunningVoice(head.mean, head.prior_windows) if head else None
        self._front_end = StreamFrontEnd(self.config, speech_threshold=speech_threshold,
                                         vad_aggressiveness=vad_aggressiveness, group=batch,
                                         keep_audio=head is not None)
        self._smoothed: np.ndarray | None = None
        self._silence_s = 0.0

    @property
    def stream_seconds(self) -> float:
        """Seconds of audio received so far."""
        return self._front_end.stream_seconds

    def feed(self, chunk: np.ndarray) -> list[WindowResult]:
        """Add audio and return the windows it completes (possibly none).

        Args:
            chunk: finite samples in [-1, 1] at ``config.sample_rate``, shape (n,)
                or (n, 1); any n, including 0.
        Raises:
            ValueError: a chunk that is not mono or holds NaN or infinite samples.
        Should the model fail, the error is raised and the windows this call
        would have returned are lost; the stream stays in step, and the next
        call goes on from there.
        """
        return [result for group in self._front_end.feed(chunk) for result in self._classify(group)]

    def finish(self) -> list[WindowResult]:
        """End of stream. A stream shorter than one window is zero-padded to one
        window (reported with the stream's real end time); a tail shorter than a
        hop after the last window is not analysed. Returns the final windows."""
        return [result for group in self._front_end.finish() for result in self._classify(group)]

    def _classify(self, group: list[AnalysedWindow]) -> list[WindowResult]:
        """One ONNX call for the group's speech windows, then smoothing in window order."""
        began = time.perf_counter()
        speech = [window for window in group if window.is_speech]
        raws = iter(self._predict(speech) if speech else ())
        share = (time.perf_counter() - began) / max(len(speech), 1)  # of the group's work, per window
        rate = self.config.sample_rate
        results = []
        for window in group:
            start_s, end_s = window.start / rate, window.end / rate
            if not window.is_speech:
                self._silence_s += self.config.hop_s
                results.append(WindowResult(window.index, start_s, end_s, False, window.speech_fraction,
                                            window.level_dbfs, SILENCE, None, None, None, None, window.compute_s))
                continue
            raw = next(raws)
            if self._smoothed is None or self._silence_s >= self.silence_reset_s:
                self._smoothed = raw
            else:
                self._smoothed = self.smoothing * raw + (1.0 - self.smoothing) * self._smoothed
            self._silence_s = 0.0
            # Python floats for the whole row at once (tolist), not value by value.
            smoothed, values = self._smoothed.tolist(), raw.tolist()
            best, raw_best = smoothed.index(max(smoothed)), values.index(max(values))  # first maximum, as argmax
            results.append(WindowResult(
                window.index, start_s, end_s, True, window.speech_fraction, window.level_dbfs,
                self.labels[best], smoothed[best], dict(zip(self.labels, smoothed)),
                self.labels[raw_best], dict(zip(self.labels, values)), window.compute_s + share))
        return results

    def _predict(self, speech: list[AnalysedWindow]) -> np.ndarray:
        """Probabilities (n, n_classes), float64, of n speech windows, in order.
        Without a profile, each window's speech frames update the running
        statistics before that window is normalised."""
        features = np.stack([window.features for window in speech])
        if self._profile is not None:
            inputs = self._profile.normalize(features)
        else:
            inputs = normalize_running(self._running, features, np.stack([w.speech_frames for w in speech]))
        probabilities = self.model.predict(inputs).astype(np.float64)
        if self._voice is None:
            return probabilities
        voice = self.model.voice_encoder.describe([window.audio for window in speech])
        return self.model.info.voice_head.mix(probabilities, *self._voice.centre(voice))
