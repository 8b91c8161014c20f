"""The stream front end: audio chunks in, finished analysis windows out.

:class:`StreamFrontEnd` owns everything a stream needs before a model: the
audio ring buffer, the VAD verdicts, the cache of frame analyses that
overlapping windows share, and the queue of windows waiting to be analysed
together. It cuts windows on the grid of :mod:`livesense.windows` and yields
them in groups, each window with its speech share, level and, for speech, its
raw features; :class:`~livesense.engine.StreamEngine` normalises, classifies
and smooths them. :func:`recording_windows` runs a fresh front end over one
whole recording: training and speaker statistics cut their windows that way,
so what is trained is what runs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from .features import FeatureConfig, analyze_frames, frame_count, frame_view, preemphasis, window_features
from .vad import SpeechDetector
from .windows import WindowGrid

# Windows with at least this share of VAD speech frames are classified.
DEFAULT_SPEECH_THRESHOLD = 0.3
# WebRTC VAD takes steady sounds for speech (hiss, hum, a buzzer, a square wave),
# the more so as its input is raised for quiet speech; a voice is voiced, and its
# pitch moves. A window the VAD calls speech is speech only with at least this share
# of voiced frames ...
MIN_VOICED_SHARE = 0.10
# ... and a median absolute deviation of its voiced frames' log F0 (natural log of Hz)
# of at least this much (a sixth of a semitone): a tone's pitch holds still.
MIN_PITCH_MOVEMENT = 0.01
_LEVEL_FLOOR_DBFS = -100.0
# VAD frames judged in one call at most (10 s): a whole recording fed as one chunk
# then needs no more than this much of it copied for the VAD.
_VAD_SLICE_FRAMES = 333
_DTYPE = np.float32


@dataclass
class AnalysedWindow:
    """One window of a stream as the front end finishes it (samples count from the stream's start)."""

    index: int
    start: int  # first sample
    end: int  # one past its last real sample: start + window, or the stream's end for a padded short stream
    is_speech: bool  # speech share at least the front end's threshold
    speech_fraction: float  # share of its 30 ms VAD frames judged speech, 0..1
    level_dbfs: float  # RMS level of its real samples in dB full scale (<= 0, floor -100)
    # Speech windows only: raw features, float32 (frames_per_window, n_features), and
    # which of those frames lie in speech (bool, frames_per_window): see livesense.windows.
    features: np.ndarray | None
    speech_frames: np.ndarray | None
    compute_s: float  # processing time (seconds) spent on this window so far
    # Speech windows of a front end that keeps audio: the window's samples, float32 (window,).
    audio: np.ndarray | None = None


class FrameCache:
    """Frame analyses (:func:`~livesense.features.analyze_frames` rows) of
    successive windows of one stream, each frame computed once.

    A frame's analysis depends only on its samples, except in a window's first
    frame, where pre-emphasis restarts; so when a window starts a whole number
    of frame hops after the previous one, the frames they share (all but the
    first) are taken over and only the first and the new frames are computed.
    Windows are queued (:meth:`add`) and their new frames analysed together
    (:meth:`analyses`), since much of the analysis costs per call, not per frame.
    ``window_features(analysis)`` of every window equals
    ``compute_features(window)``.
    """

    def __init__(self, config: FeatureConfig):
        self.config = config
        self._start: int | None = None  # stream sample where the last queued window starts
        self._n_frames = 0  # and its number of frames
        self._analysis: np.ndarray | None = None  # frame analysis of the last window analysed
        # Per queued window: how many frames it moved on from the one before
        # (None: its frames are all new) and the pre-emphasised frames to analyse.
        self._queue: list[tuple[int | None, np.ndarray]] = []

    def add(self, window: np.ndarray, start: int) -> None:
        """Queue ``window`` (float, shape (n,), at least one frame long) starting at
        stream sample ``start``, later than any window queued before. What it
        needs of the samples is copied: the caller may reuse its buffer."""
        cfg = self.config
        n_frames = frame_count(len(window), cfg)
        step = cfg.frame_hop_samples
        shift, rest = divmod(start - self._start, step) if self._start is not None else (0, 1)
        shared = n_frames - shift - 1  # frames 1..shared of this window are in the previous one
        if rest or shift < 1 or shared < 1 or self._n_frames != n_frames:
            # (pre-emphasis returns a new array: the view below does not see the caller's buffer)
            signal = np.asarray(window, dtype=_DTYPE)
            new, shift = frame_view(preemphasis(signal, cfg.preemphasis), n_frames, cfg), None
        else:
            first = np.asarray(window[: cfg.frame_samples], dtype=_DTYPE)
            # Frames shared+1.. are new; pre-emphasis needs the sample before the first of them.
            tail = np.asarray(window[(shared + 1) * step - 1 :], dtype=_DTYPE)
            new = np.concatenate([frame_view(preemphasis(first, cfg.preemphasis), 1, cfg),
                                  frame_view(tail[1:] - cfg.preemphasis * tail[:-1], shift, cfg)])
        self._queue.append((shift, new))
        self._start, self._n_frames = start, n_frames

    def analyses(self) -> list[np.ndarray]:
        """Frame analyses of the queued windows, in order, each float64 (frames,
        n_mels [+ 2]); the queue is emptied. :func:`window_features` of one is
        that window's features, and of several stacked, theirs in one call."""
        if not self._queue:
            return []
        # The queue is emptied first, and until its analysis succeeds no frame
        # counts as shared: after a failure the next window starts afresh.
        queue, self._queue = self._queue, []
        last_start, self._start = self._start, None
        rows = analyze_frames(np.concatenate([new for _, new in queue]), self.config)
        result, used = [], 0
        for shift, new in queue:
            own, used = rows[used : used + len(new)], used + len(new)
            self._analysis = own if shift is None else np.concatenate([own[:1], self._analysis[shift + 1 :], own[1:]])
            result.append(self._analysis)
        self._start = last_start
        return result


class StreamFrontEnd:
    """Turns a stream of audio chunks into groups of :class:`AnalysedWindow`.

    Args:
        config: the model's features (sample rate, window, hop, frames).
        speech_threshold: minimum share of VAD speech frames for a window to be
            speech (0..1); only speech windows get features.
        vad_aggressiveness: WebRTC VAD mode, 0 (lenient) to 3 (strict).
        group: speech windows whose features are computed in one call. Windows
            come out in stream order, in groups holding up to ``group`` speech
            windows (a silence window with none waiting before it comes out alone).

    Every result depends only on the audio, never on how it was split into
    chunks. Memory is bounded by ``window + hop`` samples (plus ``group``
    windows' frames) whatever the chunk sizes.
    """

    def __init__(self, config: FeatureConfig, *, speech_threshold: float = DEFAULT_SPEECH_THRESHOLD,
                 vad_aggressiveness: int = 2, group: int = 1, keep_audio: bool = False):
        if group < 1:
            raise ValueError("group must be at least 1")
        self.config = config
        self.speech_threshold = speech_threshold
        self.group = group
        self.keep_audio = keep_audio  # for a voice encoder (livesense.voice)
        self._vad = SpeechDetector(vad_aggressiveness, config.sample_rate)
        self._grid = WindowGrid(config, self._vad.frame_samples)
        # Frames are analysed with pitch whatever the model's features: the voicing
        # check needs it (a model without pitch gets the other columns).
        self._analysis_config = replace(config, pitch=True)
        self._frames = FrameCache(self._analysis_config)
        # Audio buffer: _buffer[:_filled] holds stream samples _offset onwards.
        self._buffer = np.zeros(self._grid.window + self._grid.hop, dtype=_DTYPE)
        self._filled = 0
        self._offset = 0
        self._next_start = 0  # stream sample where the next window starts
        self._total = 0  # samples received
        # VAD verdicts: _vad_mask[i] is VAD frame number _mask_offset + i.
        self._vad_mask = np.zeros(0, dtype=bool)
        self._mask_offset = 0
        self._vad_carry = np.zeros(0, dtype=_DTYPE)  # received samples short of a whole VAD frame
        self._heard_frames = 0  # VAD frames judged speech, in all the stream
        # Windows cut but not yet out, in order; the speech windows among them
        # (counted in _waiting_speech) have their frames queued in _frames.
        self._pending: list[AnalysedWindow] = []
        self._waiting_speech = 0
        self._index = 0
        self._finished = False
        self._audio_end: int | None = None  # stream length, once finish() pads a short stream

    @property
    def stream_seconds(self) -> float:
        """Seconds of audio received so far."""
        return self._total / self.config.sample_rate

    @property
    def heard_speech_s(self) -> float:
        """Seconds of audio the VAD has judged speech so far (before the voice check)."""
        return self._heard_frames * self._grid.vad_frame / self.config.sample_rate

    def run(self, audio: np.ndarray) -> list[AnalysedWindow]:
        """Every window of ``audio`` as one whole stream (fed at once, then finished)."""
        return [window for group in self.feed(audio) + self.finish() for window in group]

    def feed(self, chunk: np.ndarray) -> list[list[AnalysedWindow]]:
        """Add audio; returns the groups of windows it completes (possibly none).

        Args:
            chunk: finite samples in [-1, 1] at ``config.sample_rate``, shape (n,)
                or (n, 1); any n, including 0.
        """
        if self._finished:
            raise RuntimeError("stream already finished; create a new engine")
        chunk = np.asarray(chunk)
        # Integer samples (int16 from a sound card, say) are not in [-1, 1]: read
        # as floats they would be 90 dB too loud, so they are refused, not guessed at.
        if not np.issubdtype(chunk.dtype, np.floating):
            raise ValueError(f"expected float samples in [-1, 1], got {chunk.dtype}; scale integer samples first, "
                             "e.g. chunk / 32768 for int16")
        chunk = chunk.astype(_DTYPE, copy=False)
        if chunk.ndim == 2 and chunk.shape[1] == 1:
            chunk = chunk[:, 0]
        if chunk.ndim != 1:
            raise ValueError(f"expected mono audio of shape (n,), got {chunk.shape}")
        if not np.all(np.isfinite(chunk)):
            raise ValueError("audio contains NaN or infinite samples")
        self._judge(chunk)
        groups = []
        pos = 0
        # Copy in pieces that fit the buffer, cutting windows after each, so a
        # whole file passed as one chunk needs no more memory than small chunks.
        while pos < len(chunk):
            n = min(len(self._buffer) - self._filled, len(chunk) - pos)
            self._buffer[self._filled : self._filled + n] = chunk[pos : pos + n]
            self._filled += n
            self._total += n
            pos += n
            groups += self._cut()
        return groups

    def finish(self) -> list[list[AnalysedWindow]]:
        """End of stream: a stream shorter than one window is padded to one
        (see :mod:`livesense.windows`); returns the last groups."""
        if self._finished:
            return []
        groups = []
        padding = self._grid.padding(self._total) if self._index == 0 else 0
        if padding:
            self._audio_end = self._total
            groups = self.feed(np.zeros(padding, dtype=_DTYPE))
        groups.append(self._finish_group())
        self._finished = True
        return [group for group in groups if group]

    def _judge(self, chunk: np.ndarray) -> None:
        """VAD verdicts of the whole 30 ms frames that ``chunk`` completes. VAD runs
        on each frame exactly once, in stream order: the detector adapts to
        background noise, so it must see the stream, not the overlapping windows.
        A chunk is judged at once (per call, not per frame, is what VAD costs in
        Python), in slices of :data:`_VAD_SLICE_FRAMES` frames to bound memory."""
        frame = self._grid.vad_frame
        if len(self._vad_carry):
            chunk = np.concatenate([self._vad_carry, chunk])
        whole = len(chunk) // frame * frame
        self._vad_carry = chunk[whole:].copy()
        step = _VAD_SLICE_FRAMES * frame
        verdicts = [self._vad.speech_mask(chunk[at : min(at + step, whole)]) for at in range(0, whole, step)]
        if verdicts:
            self._heard_frames += sum(int(v.sum()) for v in verdicts)
            self._vad_mask = np.concatenate([self._vad_mask, *verdicts])

    def _cut(self) -> list[list[AnalysedWindow]]:
        end = self._offset + self._filled
        frame = self._grid.vad_frame
        groups = []
        while self._next_start + self._grid.window <= end:
            self._pending.append(self._analyse(self._next_start))
            self._next_start += self._grid.hop
            if self._waiting_speech in (0, self.group):  # no speech window waits, or a full group
                groups.append(self._finish_group())
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
        return groups

    def _analyse(self, start: int) -> AnalysedWindow:
        """Speech share and level of the window at ``start``; a speech window's
        frames are queued, its features come in :meth:`_finish_group`."""
        began = time.perf_counter()
        grid = self._grid
        audio = self._buffer[start - self._offset : start - self._offset + grid.window]
        audio_end = start + grid.window if self._audio_end is None else self._audio_end
        first, last = grid.vad_frames(start, audio_end)
        verdicts = self._vad_mask[first - self._mask_offset : last - self._mask_offset]
        fraction = grid.speech_share(verdicts)
        heard = audio[: audio_end - start]
        rms = math.sqrt(float(heard @ heard) / len(heard))  # float32 sum: ~1e-6 dB off, twice as fast
        level = max(20.0 * math.log10(rms), _LEVEL_FLOOR_DBFS) if rms > 0 else _LEVEL_FLOOR_DBFS
        is_speech = fraction >= self.speech_threshold and len(verdicts) > 0
        in_speech = None
        if is_speech:
            self._frames.add(audio, start)
            self._waiting_speech += 1
            in_speech = grid.frames_in_speech(verdicts, start, audio_end)
        index, self._index = self._index, self._index + 1
        return AnalysedWindow(index, start, audio_end, is_speech, fraction, level, None, in_speech,
                              time.perf_counter() - began, audio.copy() if is_speech and self.keep_audio else None)

    def _finish_group(self) -> list[AnalysedWindow]:
        """The pending windows, the speech ones with their features (one call for
        all); a window the VAD called speech but that holds no voice becomes silence."""
        # Taken off first: should the analysis fail, this group is lost whole and
        # the frame cache (emptied too) starts the next one afresh.
        group, self._pending, speech, self._waiting_speech = self._pending, [], self._waiting_speech, 0
        if not speech:
            return group
        began = time.perf_counter()
        analysed = window_features(np.stack(self._frames.analyses()), self._analysis_config)
        features = analysed if self.config.pitch else analysed[..., :-2]
        share = (time.perf_counter() - began) / speech
        for window, values, full in zip([w for w in group if w.is_speech], features, analysed):
            window.compute_s += share
            if holds_voice(full, window.speech_frames, self._analysis_config):
                window.features = values
            else:
                window.is_speech, window.speech_frames, window.audio = False, None, None
        return group


def holds_voice(features: np.ndarray, in_speech: np.ndarray, config: FeatureConfig) -> bool:
    """Whether one window holds a voice: of its frames in VAD speech (bool
    (frames,)), :data:`MIN_VOICED_SHARE` voiced, with a pitch that moves by
    :data:`MIN_PITCH_MOVEMENT` or more. ``features``: float32 (frames, n_features),
    ``config.pitch`` on."""
    voiced = features[:, config.voicing_column] >= config.voicing_threshold
    if not in_speech.any() or voiced[in_speech].mean() < MIN_VOICED_SHARE:
        return False
    log_f0 = features[voiced, config.voicing_column + 1]
    return float(_median(np.abs(log_f0 - _median(log_f0)))) >= MIN_PITCH_MOVEMENT


def _median(values: np.ndarray):
    """``np.median`` of a non-empty 1-D array, the same value at a fifth of its
    cost on a window's hundred frames (two calls per speech window)."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def recording_windows(audio: np.ndarray, config: FeatureConfig, keep_audio: bool = False) -> list[AnalysedWindow]:
    """Every window of one whole recording (float32 (n,) at ``config.sample_rate``)
    as a fresh front end cuts it: exactly the windows ``livesense file`` sees
    (with ``keep_audio``, the speech windows with their samples)."""
    return StreamFrontEnd(config, group=8, keep_audio=keep_audio).run(audio)
