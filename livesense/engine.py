"""The streaming engine: every mode (file, listen, demo, Python API) runs audio through it.

Audio arrives as 1-D float32 chunks of any size at the model's sample rate
(16 kHz). The engine keeps a bounded buffer of the last ``window + hop``
samples, cuts sliding windows starting at 0, hop, 2·hop, …, and for each one:

1. voice activity: WebRTC VAD judges the stream once, in order, in 30 ms frames;
   a window whose share of speech frames is below ``speech_threshold`` is
   reported as silence and not classified;
2. features: :func:`~livesense.features.compute_features` of the window, by way of
   :class:`~livesense.features.SlidingFeatures`, which gives the same result
   but computes each frame's spectrum once, not once per overlapping window
   (a group of windows' new frames are analysed, and their features finished,
   in one call each);
3. normalisation: a calibration profile if given, otherwise running statistics
   of the session's speech frames (started from the model's global statistics);
4. the ONNX model gives class probabilities;
5. smoothing: an exponential moving average over speech windows, so the
   readout does not flicker; the raw probabilities are kept alongside.

Every step depends only on the audio and on earlier windows, never on how the
audio was split into chunks, so chunked and whole feeding give identical
results. Running statistics are updated window by window, before each window
is normalised. By default each speech window has its own ONNX call, so its
result is out as soon as its audio is in (live use); with ``batch`` > 1 (file
analysis) groups of that many speech windows share one call, which is up to
twice as fast per window. Groups are fixed by the sequence of windows, not by
the chunks, so chunking still changes nothing; a batched call may round
differently from single ones (ONNX Runtime's x86 kernels give identical rows
for the shipped graphs, but nothing promises it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .features import SlidingFeatures, window_features
from .model import EmotionModel
from .normalization import FeatureStats, RunningStats
from .vad import SpeechDetector

SILENCE = "silence"
# Windows with at least this share of VAD speech frames are classified.
DEFAULT_SPEECH_THRESHOLD = 0.3
# EMA weight of the newest window: with windows overlapping by 3/4 at the
# default hop, 0.4 settles within about 1.5 s of a change of emotion.
DEFAULT_SMOOTHING = 0.4
# After this much continuous silence the EMA restarts, so a new utterance is
# not coloured by the emotion of one long ago.
DEFAULT_SILENCE_RESET_S = 5.0
_LEVEL_FLOOR_DBFS = -100.0


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
        self._profile = None if profile is None else model.info.speaker_stats(profile)
        self._running = None if profile is not None else RunningStats(model.info.global_stats)
        self._window = self.config.window_samples
        self._hop = self.config.hop_samples
        self._vad = SpeechDetector(vad_aggressiveness, self.config.sample_rate)
        self._vad_frame = self._vad.frame_samples
        self._features = SlidingFeatures(self.config)
        # Centre of each feature frame, in samples from its window's start.
        self._frame_centres = (np.arange(self.config.frames_per_window) * self.config.frame_hop_samples
                               + self.config.frame_samples // 2)
        # Audio buffer: _buffer[:_filled] holds stream samples _offset onwards.
        self._buffer = np.zeros(self._window + self._hop, dtype=np.float32)
        self._filled = 0
        self._offset = 0
        self._next_start = 0  # stream sample where the next window starts
        self._total = 0  # samples received
        # VAD verdicts: _vad_mask[i] is 30 ms frame number _mask_offset + i.
        self._vad_mask = np.zeros(0, dtype=bool)
        self._mask_offset = 0
        # Windows analysed but not yet returned, in order, and for the speech
        # windows among them (queued in _features) which frames update running
        # statistics (or None with a profile), waiting for one ONNX call.
        self._pending: list[WindowResult] = []
        self._running_frames: list[np.ndarray | None] = []
        self._smoothed: np.ndarray | None = None
        self._silence_s = 0.0
        self._index = 0
        self._finished = False
        self._audio_end: int | None = None  # stream length, once finish() pads a short stream

    @property
    def stream_seconds(self) -> float:
        """Seconds of audio received so far."""
        return self._total / self.config.sample_rate

    def feed(self, chunk: np.ndarray) -> list[WindowResult]:
        """Add audio and return the windows it completes (possibly none).

        Args:
            chunk: finite samples in [-1, 1] at ``config.sample_rate``, shape (n,)
                or (n, 1); any n, including 0.
        """
        if self._finished:
            raise RuntimeError("stream already finished; create a new engine")
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim == 2 and chunk.shape[1] == 1:
            chunk = chunk[:, 0]
        if chunk.ndim != 1:
            raise ValueError(f"expected mono audio of shape (n,), got {chunk.shape}")
        if not np.all(np.isfinite(chunk)):
            raise ValueError("audio contains NaN or infinite samples")
        results = []
        pos = 0
        # Copy in pieces that fit the buffer, draining windows after each, so a
        # whole file passed as one chunk needs no more memory than small chunks.
        while pos < len(chunk):
            n = min(len(self._buffer) - self._filled, len(chunk) - pos)
            self._buffer[self._filled : self._filled + n] = chunk[pos : pos + n]
            self._filled += n
            self._total += n
            pos += n
            results.extend(self._drain())
        return results

    def finish(self) -> list[WindowResult]:
        """End of stream. A stream shorter than one window is zero-padded to one
        window (reported with the stream's real end time); a tail shorter than a
        hop after the last window is not analysed. Returns the final windows."""
        if self._finished:
            return []
        results: list[WindowResult] = []
        padded_end = None
        if self._index == 0 and self._total > 0:
            padded_end = self.stream_seconds
            # Speech share and level of the padded window count the real audio only.
            self._audio_end = self._total
            results = self.feed(np.zeros(self._window - self._total, dtype=np.float32))
        results += self._classify()
        if padded_end is not None:
            for result in results:
                result.end_s = min(result.end_s, padded_end)
        self._finished = True
        return results

    def _drain(self) -> list[WindowResult]:
        end = self._offset + self._filled
        frame = self._vad_frame
        # VAD runs on each whole 30 ms frame exactly once, in stream order: the
        # detector adapts to background noise, so it must see the stream, not
        # the overlapping windows.
        judged_end = (self._mask_offset + len(self._vad_mask)) * frame
        n_frames = (end - judged_end) // frame
        if n_frames > 0:
            segment = self._buffer[judged_end - self._offset : judged_end - self._offset + n_frames * frame]
            self._vad_mask = np.concatenate([self._vad_mask, self._vad.speech_mask(segment)])
        results = []
        while self._next_start + self._window <= end:
            self._pending.append(self._analyze(self._next_start))
            self._next_start += self._hop
            if len(self._running_frames) in (0, self.batch):  # no speech window waits, or a full group
                results += self._classify()
        # Forget audio and VAD frames that no later window overlaps.
        drop = self._next_start - self._offset
        if drop > 0:
            keep = self._filled - drop
            self._buffer[:keep] = self._buffer[drop : self._filled]
            self._filled = keep
            self._offset += drop
        first_needed = self._next_start // frame
        if first_needed > self._mask_offset:
            self._vad_mask = self._vad_mask[first_needed - self._mask_offset :]
            self._mask_offset = first_needed
        return results

    def _analyze(self, start: int) -> WindowResult:
        """VAD share and level of one window; a speech window's frames are queued,
        and its label and probabilities come in :meth:`_classify`."""
        began = time.perf_counter()
        cfg = self.config
        audio = self._buffer[start - self._offset : start - self._offset + self._window]
        # Whole VAD frames inside the window: numbers first .. last-1.
        first = -(-start // self._vad_frame)
        audio_end = start + self._window if self._audio_end is None else self._audio_end
        last = audio_end // self._vad_frame
        mask = self._vad_mask[first - self._mask_offset : last - self._mask_offset]
        fraction = float(mask.mean()) if len(mask) else 0.0
        heard = audio[: audio_end - start]
        rms = math.sqrt(float(heard @ heard) / len(heard))  # float32 sum: ~1e-6 dB off, twice as fast
        level = max(20.0 * math.log10(rms), _LEVEL_FLOOR_DBFS) if rms > 0 else _LEVEL_FLOOR_DBFS
        start_s, end_s = start / cfg.sample_rate, (start + self._window) / cfg.sample_rate
        index = self._index
        self._index += 1
        if fraction < self.speech_threshold or not len(mask):
            return WindowResult(index, start_s, end_s, False, fraction, level, SILENCE,
                                None, None, None, None, time.perf_counter() - began)

        # The frames' spectra, the window's features, statistics and the model
        # wait for the group, where numpy does them for all its windows at once.
        self._features.add(audio, start)
        running_frames = None
        if self._profile is None:
            # Like normalization.speech_frames: frames whose centre lies in a
            # speech frame update the speaker's running statistics.
            centres = start + self._frame_centres
            vad_index = np.minimum(np.maximum(centres // self._vad_frame, first), last - 1) - first
            running_frames = mask[vad_index] & (centres < audio_end)
        self._running_frames.append(running_frames)
        return WindowResult(index, start_s, end_s, True, fraction, level, "", None, None, None, None,
                            time.perf_counter() - began)

    def _classify(self) -> list[WindowResult]:
        """One ONNX call for the pending speech windows, then smoothing in window
        order; returns all pending windows, now complete."""
        # Taken off before the call: should the model fail, the group is dropped
        # whole and the next one starts in step with the queued frames.
        done, running_frames, self._pending, self._running_frames = self._pending, self._running_frames, [], []
        began = time.perf_counter()
        raws = iter(self._predict(running_frames) if running_frames else ())
        share = (time.perf_counter() - began) / max(len(running_frames), 1)  # of the group's work, per window
        for result in done:
            if not result.is_speech:
                self._silence_s += self.config.hop_s
                continue
            raw = next(raws)
            if self._smoothed is None or self._silence_s >= self.silence_reset_s:
                self._smoothed = raw
            else:
                self._smoothed = self.smoothing * raw + (1.0 - self.smoothing) * self._smoothed
            self._silence_s = 0.0
            best, raw_best = int(np.argmax(self._smoothed)), int(np.argmax(raw))
            result.label, result.confidence = self.labels[best], float(self._smoothed[best])
            result.probabilities = dict(zip(self.labels, map(float, self._smoothed)))
            result.raw_label, result.raw_probabilities = self.labels[raw_best], dict(zip(self.labels, map(float, raw)))
            result.compute_s += share
        return done

    def _predict(self, running_frames: list[np.ndarray | None]) -> np.ndarray:
        """Probabilities (n, n_classes), float64, of the n speech windows queued in
        ``_features``, in order. ``running_frames`` says which of each window's frames
        update running statistics; they do so before that window is normalised."""
        features = window_features(np.stack(self._features.analyses()), self.config)
        if self._profile is not None:
            inputs = self._profile.normalize(features)
        else:
            inputs = np.empty_like(features)
            for k, frames in enumerate(running_frames):
                self._running.update(features[k][frames])
                inputs[k] = self._running.current().normalize(features[k])
        return self.model.predict(inputs).astype(np.float64)
