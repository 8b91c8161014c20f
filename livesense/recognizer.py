"""The Python API: ``livesense.Recognizer``.

    >>> import livesense
    >>> rec = livesense.Recognizer(model="cnn")
    >>> analysis = rec.analyze_file("samples/1058_IWL_ANG_XX.flac")
    >>> analysis.verdict.label
    'angry'
    >>> for window in rec.stream(chunks):   # chunks: 16 kHz mono float32 arrays
    ...     print(window.start_s, window.label, window.confidence)
    >>> rec.calibrate("me_speaking.flac").save("me.json")   # or rec.calibrate() to record
    >>> mine = livesense.Recognizer(model="cnn", profile="me.json")
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import AudioError, describe, stream_audio
from .calibration import DEFAULT_SECONDS, MICROPHONE, Calibration, calibrate_audio, calibrate_file, record
from .engine import DEFAULT_SMOOTHING, DEFAULT_SPEECH_THRESHOLD, StreamEngine, WindowResult
from .model import DEFAULT_MODEL, EmotionModel
from .normalization import FeatureStats, load_profile
from .summary import SessionSummary, Verdict

# Seconds of source audio read from a file at a time: large blocks, since much of
# the cost of reading (and of the VAD) is per call; a stream (standard input) a
# second at a time, as its audio may be arriving live.
FILE_BLOCK_S = 8.0
STREAM_BLOCK_S = 1.0
# Speech windows per ONNX call when analysing a file: nobody waits for a single
# window there, and a group of 8 halves the BiLSTM's cost per window.
FILE_BATCH = 8


@dataclass
class FileAnalysis:
    """Result of :meth:`Recognizer.analyze_file`."""

    path: Path
    windows: list[WindowResult]  # the per-window timeline
    summary: SessionSummary

    @property
    def verdict(self) -> Verdict:
        return self.summary.verdict()


class Recognizer:
    """Speech emotion recognition on files and streams.

    Args:
        model: ``"cnn"``, ``"bilstm"``, ``"logreg"`` or ``"ensemble"`` (shipped models),
            a path to a livesense ``.onnx`` file, or a loaded
            :class:`~livesense.model.EmotionModel`; None: the shipped model measured
            best with and without a profile, ``ensemble`` (``livesense.model.DEFAULT_MODEL``).
        profile: a calibration profile (path from ``livesense calibrate``, or
            :class:`~livesense.normalization.FeatureStats`); without one each
            stream is normalised by running statistics of its own speech.
        speech_threshold, smoothing: see :class:`~livesense.engine.StreamEngine`.
    Raises:
        ModelError, ProfileError: the model or profile cannot be used.
    """

    def __init__(
        self,
        model: str | Path | EmotionModel | None = None,
        profile: str | Path | FeatureStats | None = None,
        *,
        speech_threshold: float = DEFAULT_SPEECH_THRESHOLD,
        smoothing: float = DEFAULT_SMOOTHING,
    ):
        if model is None:
            model = DEFAULT_MODEL
        self.model = model if isinstance(model, EmotionModel) else EmotionModel(model)
        if isinstance(profile, (str, Path)):
            profile = load_profile(profile, self.model.features)
        self.profile = profile
        self.speech_threshold = speech_threshold
        self.smoothing = smoothing

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def sample_rate(self) -> int:
        """Rate in Hz that :meth:`stream` expects."""
        return self.model.features.sample_rate

    def engine(self, batch: int = 1) -> StreamEngine:
        """A fresh engine for one stream (its own buffer, VAD and running statistics);
        ``batch``: speech windows per ONNX call (see :class:`StreamEngine`)."""
        return StreamEngine(self.model, self.profile, speech_threshold=self.speech_threshold,
                            smoothing=self.smoothing, batch=batch)

    def stream(self, chunks: Iterable[np.ndarray], *, batch: int = 1) -> Iterator[WindowResult]:
        """Analyse a stream of mono float32 chunks at :attr:`sample_rate` (any
        sizes); yields each window as soon as its audio has arrived, or with
        ``batch`` > 1 in groups of that many speech windows (faster).

        Should ``chunks`` fail (a file damaged midway) or reading them be
        interrupted (Ctrl-C, SIGTERM), the stream ends there: the windows of the
        audio before are yielded, then the error is raised."""
        engine = self.engine(batch)
        chunks = iter(chunks)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except (Exception, KeyboardInterrupt):  # also Ctrl-C and SIGTERM (cli.Terminated) while reading
                yield from engine.finish()  # the audio before the failure, its pending group included
                raise
            yield from engine.feed(chunk)
        yield from engine.finish()

    def stream_file(self, path: str | Path | int) -> Iterator[WindowResult]:
        """Windows of an audio file (or open file descriptor, see
        :func:`~livesense.audio.stream_audio`), read and resampled block by block
        (constant memory), classified in groups of :data:`FILE_BATCH` speech windows.

        Raises:
            AudioError: unreadable file, or a file without any audio samples;
                or one damaged midway, after the windows before the damage.
        """
        produced = False
        block_s = STREAM_BLOCK_S if isinstance(path, int) else FILE_BLOCK_S
        for window in self.stream(stream_audio(path, self.sample_rate, block_s), batch=FILE_BATCH):
            produced = True
            yield window
        if not produced:
            raise AudioError(f"{describe(path)}: file contains no audio samples (a header without data); check the recording")

    def analyze_file(self, path: str | Path) -> FileAnalysis:
        """Whole-file analysis: the timeline of windows and the overall verdict.
        (For very long recordings iterate :meth:`stream_file` instead, which
        does not keep the timeline.)"""
        windows, summary = [], SessionSummary()
        for window in self.stream_file(path):
            windows.append(window)
            summary.add(window.start_s, window.end_s, window.label, window.raw_probabilities)
        return FileAnalysis(Path(path), windows, summary)

    def calibrate(self, path: str | Path | None = None, *, seconds: float = DEFAULT_SECONDS,
                  device: str | int | None = None, samplerate: int | None = None,
                  progress: Callable[[str, float], None] | None = None) -> Calibration:
        """A speaker profile for this model from ``seconds`` (default 25) of
        normal speech: the start of the recording at ``path``, or without one a
        recording from an input device (``device``, ``samplerate`` and
        ``progress``: see :func:`~livesense.calibration.record`). The profile is
        not used here: :meth:`~livesense.calibration.Calibration.save` it and
        pass the path as ``profile``.

        Raises:
            CalibrationError: too little speech, or noise rather than a voice.
            AudioError: unreadable file. DeviceError: no usable input device.
        """
        if path is not None:
            return calibrate_file(path, self.model, seconds)
        audio = record(seconds, self.sample_rate, device, samplerate, progress)
        return calibrate_audio(audio, self.model, MICROPHONE)
