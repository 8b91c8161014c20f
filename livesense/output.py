"""What the commands print, and the consoles they print on.

- ``livesense file``: :class:`JsonLines`, :class:`CsvRows` or :class:`TerminalTables`,
  each told of every window as it is analysed (``window``), then of the file's
  end (``verdict``) or of a failure midway (``incomplete``).
- The summary after a live session (:func:`print_session_summary`), the tables
  of ``livesense report`` (:func:`print_report`) and the device list
  (:func:`print_devices`); the first two share :func:`emotion_table`.

The live panel of ``listen`` and ``demo`` is :mod:`livesense.display`.
"""
from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .writing import check_finite, json_line

# Only rich at import: the CLI prints its error lines on stderr_console(), also
# before (or without) loading the engine and its numerical libraries.
if TYPE_CHECKING:
    from .engine import WindowResult
    from .report import SessionReport
    from .session_log import SessionLog
    from .summary import SessionSummary


def stdout_console(**options) -> Console:
    """A rich Console on stdout whose reader going away (``| head``) ends the
    command as it does for JSON and CSV output (exit 0), not with rich's exit 1."""

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return PipeConsole(highlight=False, **options)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def duration(seconds: float) -> str:
    """``seconds`` for a reader: "12.5 s", "3 min 05 s", "2 h 07 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s"


# ---------------------------------------------------------------- batch


class BatchProgress:
    """``batch``'s progress on stderr: a bar over the bytes to analyse, files done,
    hours of audio done and the rate (audio time per wall time); then a line
    saying what was written. A context manager."""

    def __init__(self, files: int, total_bytes: int, skipped: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.files, self.skipped = files, skipped
        self.done_files, self.audio_s = 0, 0.0
        self.console = stderr_console()
        self._began = time.monotonic()
        # On a terminal only: elsewhere (a log file, CI) the bar would be blank lines.
        self._progress = Progress(TextColumn("analysing"), BarColumn(), TextColumn("{task.fields[status]}"),
                                  TimeRemainingColumn(), console=self.console, transient=True,
                                  disable=not self.console.is_terminal)
        self._task = self._progress.add_task("batch", total=max(total_bytes, 1), status=self._status())

    def _status(self) -> str:
        return f"{self.done_files}/{self.files} files, {duration(self.audio_s)} of audio, {self._rate()}"

    def _rate(self) -> str:
        elapsed = time.monotonic() - self._began
        return f"{self.audio_s / elapsed:,.0f}x real time" if self.done_files and elapsed > 0 else "rate to come"

    def _analysed(self) -> str:
        return (f"{self.done_files} files analysed ({duration(self.audio_s)} of audio, {self._rate()})"
                if self.done_files else "no file analysed")

    def advance(self, size: int, audio_s: float) -> None:
        """One more file done: ``size`` bytes holding ``audio_s`` seconds of audio."""
        self.done_files += 1
        self.audio_s += audio_s
        self._progress.update(self._task, advance=size, status=self._status())

    def stopped(self, out: str) -> None:
        """The run was interrupted: what was kept and how to go on."""
        self._progress.stop()
        self.console.print(f"stopped: {self._analysed()}, written to {out}; {self.files - self.done_files} "
                           "files left: run the same command again to go on", markup=False, soft_wrap=True)

    def done(self, out: str) -> None:
        self._progress.stop()
        skipped = f"; {self.skipped} files already there skipped" if self.skipped else ""
        message = (f"{self._analysed()}, written to {out}{skipped}" if self.files else
                   f"nothing to analyse: all {self.skipped} files are in {out} already" if self.skipped else
                   f"no audio to analyse, {out} unchanged")
        self.console.print(message, markup=False, soft_wrap=True)

    def __enter__(self) -> "BatchProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()


# ---------------------------------------------------------------- file


def _decimal(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


class JsonLines:
    """``file --json``: one object per window as it is analysed, one verdict per file.
    Strict JSON: a NaN or infinity is a :class:`~livesense.writing.NotFiniteError`."""

    def __init__(self, labels: list[str]):
        self.labels = labels

    def incomplete(self, path: str, summary: SessionSummary) -> None:
        """A file that failed midway: its windows are out (flushed now, before the
        error line); it gets no verdict."""
        sys.stdout.flush()

    def window(self, path: str, window: WindowResult, credited: float) -> None:
        sys.stdout.write(json_line({"type": "window", "file": str(path), **window.to_dict()},
                                   f"{path}: window {window.start_s:g}-{window.end_s:g} s"))

    def verdict(self, path: str, summary: SessionSummary) -> None:
        verdict = summary.verdict()
        sys.stdout.write(json_line({
            "type": "verdict", "file": str(path), "label": verdict.label,
            "confidence": None if verdict.confidence is None else round(verdict.confidence, 4),
            "speech_s": round(verdict.speech_s, 3), "duration_s": round(verdict.duration_s, 3),
            "seconds": {k: round(v, 3) for k, v in summary.seconds.items()},
        }, f"{path}: verdict"))
        sys.stdout.flush()


class CsvRows:
    """``file --csv``: a row per window (with its raw probabilities), a verdict row per file."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.writer = csv.writer(sys.stdout)
        self.writer.writerow(["kind", "file", "start", "end", "speech", "label", "confidence", "raw_label"]
                             + [f"raw_{label}" for label in labels])

    def incomplete(self, path: str, summary: SessionSummary) -> None:
        """A file that failed midway: its rows are out (flushed now, before the
        error line); it gets no verdict row."""
        sys.stdout.flush()

    def window(self, path: str, window: WindowResult, credited: float) -> None:
        check_finite(window.to_dict(), f"{path}: window {window.start_s:g}-{window.end_s:g} s")
        raw = window.raw_probabilities or {}
        self.writer.writerow(["window", path, f"{window.start_s:.3f}", f"{window.end_s:.3f}", int(window.is_speech),
                              window.label, _decimal(window.confidence), window.raw_label or ""]
                             + [_decimal(raw.get(label)) for label in self.labels])

    def verdict(self, path: str, summary: SessionSummary) -> None:
        verdict = summary.verdict()
        self.writer.writerow(["verdict", path, "0.000", f"{verdict.duration_s:.3f}", int(verdict.speech_s > 0),
                              verdict.label, _decimal(verdict.confidence), ""] + [""] * len(self.labels))
        sys.stdout.flush()


class TerminalTables:
    """``file`` on a terminal: per file, a table of stretches of one emotion and the verdict.

    Windows overlap, so each stands for the time it adds after the previous
    one (``credited`` seconds up to its end); the rows then tile the recording.
    """

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.console = stdout_console()
        self.path: str | None = None
        self.rows: list[dict] = []

    def window(self, path: str, window: WindowResult, credited: float) -> None:
        check_finite(window.to_dict(), f"{path}: window {window.start_s:g}-{window.end_s:g} s")
        if path != self.path:  # a new file (the previous one may have failed midway)
            self.path, self.rows = path, []
        if self.rows and self.rows[-1]["label"] == window.label:
            row = self.rows[-1]
            row["end"] = window.end_s
        else:
            row = {"start": window.end_s - credited, "end": window.end_s, "label": window.label, "confidences": []}
            self.rows.append(row)
        if window.confidence is not None:
            row["confidences"].append(window.confidence)

    def verdict(self, path: str, summary: SessionSummary) -> None:
        self._print(path, summary, complete=True)

    def incomplete(self, path: str, summary: SessionSummary) -> None:
        if path == self.path and self.rows:
            self._print(path, summary, complete=False)

    def _print(self, path: str, summary: SessionSummary, complete: bool) -> None:
        from .display import label_color

        # Columns aligned by hand in one Text: a rich Table measures every cell
        # and took longer than the analysis itself on hour-long recordings.
        cells = [(f"{row['start']:.1f} s", f"{row['end']:.1f} s", row["label"],
                  f"{sum(row['confidences']) / len(row['confidences']):.0%}" if row["confidences"] else "")
                 for row in self.rows]
        header = ("from", "to", "emotion", "confidence")
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
        text = Text(f"{path}\n", style="bold")
        text.append(f"{header[0]:>{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:<{widths[2]}}  "
                    f"{header[3]:>{widths[3]}}\n", style="dim")
        for start, end, label, confidence in cells:
            text.append(f"{start:>{widths[0]}}  {end:>{widths[1]}}  ")
            text.append(f"{label:<{widths[2]}}" if confidence else label, style=label_color(label, self.labels))
            text.append(f"  {confidence:>{widths[3]}}\n" if confidence else "\n")
        text.append("verdict: " if complete else "stopped early; verdict of the part analysed: ")
        text.append_text(verdict_text(summary))
        text.append("\n")
        self.console.print(text, soft_wrap=True)


def verdict_text(summary: SessionSummary) -> Text:
    """The verdict with the rule that chose it and its figures: "fear (highest
    mean probability: 25%; 6.5 s, 34% of speech), speech 19.0 s of 30.0 s"."""
    from .summary import VERDICT_RULE

    verdict = summary.verdict()
    text = Text(verdict.label, style="bold")
    if verdict.confidence is not None:
        text.append(f" ({VERDICT_RULE}: {verdict.confidence:.0%}; {verdict.seconds:.1f} s, "
                    f"{verdict.share:.0%} of speech)")
    text.append(f", speech {verdict.speech_s:.1f} s of {verdict.duration_s:.1f} s")
    return text


# ---------------------------------------------------------------- summaries


def _tenths(seconds: float) -> str:
    return f"{seconds:.1f} s"


def emotion_table(summary: SessionSummary, title: str, time: Callable[[float], str], silence: bool) -> Table:
    """Per emotion, in the verdict's order (highest mean probability first, so
    the first row is the overall verdict): its mean raw probability, time,
    share of the speech and longest stretch, each time written by ``time``;
    then, with ``silence``, a row of the silence's time and longest stretch.
    Labels come from logs and model metadata: they are shown as text, never
    read as markup."""
    from .engine import SILENCE

    table = Table(title=title, title_justify="left")
    table.add_column("emotion")
    for column in ("mean probability", "time", "share of speech", "longest stretch"):
        table.add_column(column, justify="right")
    longest, means = summary.longest_stretches(), summary.mean_probabilities()
    for label, seconds in summary.emotion_seconds().items():
        share = seconds / summary.speech_s if summary.speech_s else 0.0
        table.add_row(Text(label), f"{means.get(label, 0.0):.0%}", time(seconds), f"{share:.0%}",
                      time(longest.get(label, 0.0)))
    if silence:
        table.add_row(SILENCE, "", time(summary.seconds.get(SILENCE, 0.0)), "", time(longest.get(SILENCE, 0.0)))
    return table


def print_session_summary(console: Console, summary: SessionSummary, overflows: int, log: SessionLog | None) -> None:
    """After a live session: time per emotion (times as seconds, "75.0 s", where
    ``report`` writes "1 min 15 s"), the totals, and where the session's ``log``
    went or why it stopped."""
    from .summary import VERDICT_RULE

    verdict = summary.verdict()
    console.print()
    console.print(emotion_table(summary, "session summary", _tenths, silence=False))
    console.print(f"{summary.duration_s:.1f} s analysed, {summary.speech_s:.1f} s of speech, "
                  f"overall: {verdict.label} ({VERDICT_RULE}); input overflows: {overflows}",
                  soft_wrap=True, markup=False)
    if log is not None:
        console.print(log.error or f"log: {log.path} ({log.lines} lines)", soft_wrap=True, markup=False)


def print_report(console: Console, report: SessionReport) -> None:
    """``livesense report``'s text: totals, the sessions (when each began, by
    the clock, for live logs), time per emotion over them all (silence included)
    and the dominant emotion of each period of each session (times into the
    session, in audio time)."""
    import datetime as dt

    from .summary import VERDICT_RULE

    sessions = report.sessions()
    summary = report.totals()
    notes = [f"{report.skipped} unreadable line(s) skipped"] if report.skipped else []
    unclocked = sum(session.began is None for session in sessions)
    if unclocked and unclocked < len(sessions):
        notes.append(f"{unclocked} without a clock (recordings of `file --json` output: times into each recording)")
    if report.refused:
        notes.append(f"{report.refused} record(s) with impossible values left out (the first: {report.first_refusal})")
    console.print(f"{len(sessions)} session{'s' if len(sessions) != 1 else ''}, {summary.windows} windows, "
                  f"{duration(summary.duration_s)} analysed, {duration(summary.speech_s)} of speech, "
                  f"overall: {summary.verdict().label} ({VERDICT_RULE})" + "".join(f"; {note}" for note in notes),
                  soft_wrap=True, markup=False)

    table = Table(title="sessions", title_justify="left")
    for column in ("#", "id", "began", "source", "analysed", "speech", "overall"):
        table.add_column(column, justify="right" if column in ("analysed", "speech") else "left",
                         no_wrap=column == "began")
    for number, session in enumerate(sessions, 1):
        began = "" if session.began is None else dt.datetime.fromtimestamp(session.began).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(number), Text(session.id or ""), began, Text(session.source),
                      duration(session.summary.duration_s), duration(session.summary.speech_s),
                      Text(session.summary.verdict().label))
    console.print(table)
    console.print(emotion_table(summary, "time per emotion", duration, silence=True))

    periods = Table(title=f"dominant emotion per {duration(report.period_s)}", title_justify="left")
    several = len(sessions) > 1
    for column in (["session"] if several else []) + ["into session", "dominant", "share of speech", "speech"]:
        periods.add_column(column)
    for number, session in enumerate(sessions, 1):
        for start, label, share, spoken in report.dominant_per_period(session):
            periods.add_row(*([str(number)] if several else []), duration(start), Text(label),
                            f"{share:.0%}" if spoken else "", duration(spoken))
    console.print(periods)


def print_devices(devices: list[dict], json_lines: bool) -> None:
    """``livesense devices``: the :func:`~livesense.capture.input_devices` as a
    table, or with ``json_lines`` one JSON object per device."""
    if json_lines:
        for device in devices:
            sys.stdout.write(json_line(device, f"device {device.get('name')!r}"))
        return
    table = Table(title="input devices", title_justify="left")
    for column in ("index", "name", "channels", "native rate", "host API", "default"):
        table.add_column(column)
    for d in devices:
        table.add_row(str(d["index"]), Text(d["name"]), str(d["channels"]), f"{d['samplerate']} Hz",
                      Text(d["hostapi"]), "*" if d["default"] else "")
    stdout_console().print(table)
