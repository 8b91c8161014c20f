"""A live session (``listen``, ``demo``): source → engine → display, JSON lines, log.

A worker thread pulls blocks from the source and runs the engine; the main
thread only shows the display and waits, so Ctrl-C (KeyboardInterrupt, main
thread) and SIGTERM both just set the stop event and the session ends cleanly:
the worker finishes the stream, the log gets its end record, the caller prints
the summary. A source that fails (a device lost for good, a clip damaged
midway) ends the session the same way, then :meth:`Session.run` raises its error.

Every record a session writes (log and JSON lines) carries its ``session`` id,
so that sessions appending to one log are told apart.
"""
from __future__ import annotations

import math
import signal
import threading
import time
import uuid
from typing import TextIO

import numpy as np
from rich.console import Console
from rich.live import Live

from .audio import AudioError
from .capture import DeviceError
from .display import LiveDisplay
from .engine import WindowResult
from .recognizer import Recognizer
from .session_log import SessionLog
from .summary import SessionSummary
from .writing import json_line


# Slack over --duration in wall time for start-up and late blocks; then a live
# session ends even if its device delivered less audio.
DURATION_GRACE_S = 10.0


class Session:
    """One run of a live source through a fresh engine.

    Args:
        recognizer: model, profile and engine settings.
        source: a :class:`~livesense.capture.Microphone` or
            :class:`~livesense.capture.FilePlayer` (anything with ``blocks(stop)``,
            ``name``, ``overflows``, and optionally ``close()`` and ``on_status``).
            The session closes it when the stream ends, so that ``overflows``
            is final for the log and the summary.
        duration_s: stop after this many seconds of audio, or once that much
            wall time plus ``DURATION_GRACE_S`` has passed (a device that is
            lost and never returns cannot hold the session open); None = until
            the source ends or the user stops it.
        log: where to append window records, or None.
        json_out: stream for JSON lines (one per window), or None.
        console: shows the live display when given; None = no display.
        messages: console for status messages when there is no display (stderr).
    """

    def __init__(self, recognizer: Recognizer, source, *, duration_s: float | None = None,
                 log: SessionLog | None = None, json_out: TextIO | None = None,
                 console: Console | None = None, messages: Console | None = None):
        self.recognizer = recognizer
        self.source = source
        self.duration_s = duration_s
        self.log = log
        self.json_out = json_out
        self.console = console
        self.messages = messages or Console(stderr=True)
        self.summary = SessionSummary()
        self.id = uuid.uuid4().hex[:8]  # in every record: 8 hex digits tell a log's sessions apart
        # The model in the title: without --model it is chosen for the user.
        self.display = (LiveDisplay(recognizer.labels, self.summary, recognizer.model.features.hop_s,
                                    f"{source.name} ({recognizer.model.info.name})")
                        if console is not None else None)
        if hasattr(source, "on_status"):
            source.on_status = self.status
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._device_problem: str | None = None
        self._log_problem: str | None = None
        self.overflows = 0  # final count, set when run() returns

    def stop(self) -> None:
        """Ask the session to end (safe from any thread or a signal handler)."""
        self._stop.set()

    def status(self, message: str | None) -> None:
        """Show a device problem, or clear it with None (called by the source)."""
        recovered = message is None and self._device_problem is not None
        self._device_problem = message
        self._show(message or ("input device is back" if recovered else None))

    def _show(self, message: str | None) -> None:
        if self.display is not None:
            self.display.status = " | ".join(m for m in (self._device_problem, self._log_problem) if m) or None
        elif message:
            self.messages.print(f"livesense: {message}", highlight=False, markup=False, soft_wrap=True)

    def run(self) -> SessionSummary:
        """Run until the source ends, ``duration_s``, Ctrl-C or SIGTERM; returns the summary.

        Raises (after the log's end record, with :attr:`summary` complete):
            DeviceError: the input device was lost and not back when the session ended.
            AudioError: a clip damaged midway. NotFiniteError: a record JSON cannot hold.
            OSError: the display or the JSON lines could not be written.
        """
        model = self.recognizer.model
        self._write_log({"type": "session", "session": self.id, "time": round(time.time(), 3),
                         "model": model.info.name, "source": self.source.name, "labels": model.labels,
                         "window_s": model.features.window_s, "hop_s": model.features.hop_s})
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stop()) if in_main else None
        worker = threading.Thread(target=self._work, name="livesense-worker", daemon=True)
        worker.start()
        try:
            if self.display is not None:
                with Live(self.display, console=self.console, refresh_per_second=4):
                    self._wait()
            else:
                self._wait()
        except KeyboardInterrupt:
            self.stop()
            worker.join()
        except Exception as err:  # the display failed (stdout gone): end the stream cleanly, then report it
            self.stop()
            worker.join()
            self._error = self._error or err
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
        # Stop capture first: a running stream keeps counting overflows, and the
        # log's end record and the printed summary must show the same number.
        close = getattr(self.source, "close", None)  # optional for custom sources
        if close is not None:
            close()
        self.overflows = self.source.overflows
        # The log gets its end record even when the stream failed midway (a
        # damaged clip, stdout gone): what was analysed up to then stays usable.
        if self.log is not None:
            verdict = self.summary.verdict()
            self.log.close({"type": "end", "session": self.id, "time": round(time.time(), 3),
                            "duration_s": round(self.summary.duration_s, 3),
                            "speech_s": round(self.summary.speech_s, 3),
                            "seconds": {k: round(v, 3) for k, v in self.summary.seconds.items()},
                            "verdict": verdict.label, "overflows": self.overflows})
        if self._error is not None:
            raise self._error
        return self.summary

    def _wait(self) -> None:
        # A file played slower than real time (demo --speed < 1) takes longer by design.
        wall_s = None if self.duration_s is None else self.duration_s / min(getattr(self.source, "speed", 1.0), 1.0)
        deadline = None if wall_s is None else time.monotonic() + wall_s + DURATION_GRACE_S
        while not self._done.wait(0.2):
            if deadline is not None and time.monotonic() > deadline and not self._stop.is_set():
                self._show(f"--duration {self.duration_s:g} s of wall time is over, with "
                           f"{self.summary.duration_s:.1f} s of audio; stopping")
                self.stop()

    def _work(self) -> None:
        try:
            engine = self.recognizer.engine()
            try:
                self._feed(engine)
            except (AudioError, DeviceError) as err:
                # The source failed, not the analysis: what it delivered is finished below.
                self._error = err
            for result in engine.finish():
                self._emit(result, time.monotonic())
        except BaseException as err:  # handed to the main thread, which reports it
            self._error = self._error or err
        finally:
            self._done.set()

    def _feed(self, engine) -> None:
        """The source's blocks into ``engine`` until the source ends, ``duration_s``
        of audio or a stop."""
        limit = None if self.duration_s is None else int(round(self.duration_s * engine.config.sample_rate))
        fed = 0
        for block, captured in self.source.blocks(self._stop):
            if limit is not None:
                block = block[: limit - fed]
            fed += len(block)
            if self.display is not None and len(block):
                rms = math.sqrt(float(np.mean(np.square(block, dtype=np.float64))))
                self.display.set_level(max(20 * math.log10(rms), -100.0) if rms > 0 else -100.0)
                self.display.overflows = self.source.overflows
            for result in engine.feed(block):
                self._emit(result, captured)
            if (limit is not None and fed >= limit) or self._stop.is_set():
                break

    def _emit(self, result: WindowResult, captured: float) -> None:
        latency = time.monotonic() - captured
        if self.display is not None:
            with self.display.lock:  # the display's refresh thread reads the summary
                self.summary.add(result.start_s, result.end_s, result.label, result.raw_probabilities)
            self.display.update(result, latency)
        else:
            self.summary.add(result.start_s, result.end_s, result.label, result.raw_probabilities)
        record = {"type": "window", "session": self.id, "time": round(time.time(), 3), **result.to_dict()}
        self._write_log(record)
        if self.json_out is not None:
            try:
                self.json_out.write(json_line(record, f"{self.source.name}: window {result.start_s:g}-{result.end_s:g} s"))
                self.json_out.flush()
            except BrokenPipeError:
                # The reader of our output went away (e.g. `| head`): end quietly.
                self.json_out = None
                self.stop()

    def _write_log(self, record: dict) -> None:
        if self.log is not None and not self.log.write(record) and self._log_problem is None:
            self._log_problem = self.log.error
            self._show(self._log_problem)
