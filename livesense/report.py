"""``livesense report``: what session logs say, as tables and a timeline PNG.

Reads logs of ``listen``/``demo`` and ``file --json`` output, several at once
(sessions appended to one log, rotated parts, both kinds). Records are grouped
into sessions: by the ``session`` id that every record of a session log
carries; by ``file`` in ``file --json`` output (one session per recording); in
logs written before session ids, a ``session`` record, or a window that starts
before the previous one, begins the next. Each session is a timeline of its
own in audio time (``start``/``end``: seconds from its beginning), shown one
after another, never with the hours between them.

Clock time (a live record's ``time``, Unix seconds) only orders the logs and
says when each session began; it is never added to audio time: a ``demo
--speed 10`` session holds ten times more audio than clock time, and ``file
--json`` output has no clock at all.

Lines that are not JSON objects (such as a last line cut off by a crash) are
skipped and counted; records with impossible values are left out, counted, and
the first is named.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .engine import SILENCE
from .output import duration
from .session_log import LogError, LogReader
from .summary import VERDICT_RULE, SessionSummary
from .writing import replacing

DEFAULT_PERIOD_S = 60.0
# No session or recording lasts ten years, and no model's window a minute:
# stream times beyond are damage (an `end` of 1e10 s would read "166666667 min").
_MAX_STREAM_S = 10 * 366 * 86400.0
_MAX_WINDOW_S = 60.0
# Clock times outside 2000-01-01 .. 2100-01-01 (UTC) are damage too.
_CLOCK_RANGE = (946684800.0, 4102444800.0)


@dataclass
class Segment:
    """An unbroken run of one label; seconds into its session (audio time)."""

    start: float
    end: float
    label: str


@dataclass
class LoggedSession:
    """One session of a log, or one recording of ``file --json`` output."""

    id: str | None  # the session id of its records; None in file output and older logs
    source: str  # what it analysed: the session record's source, or the file
    unnamed: bool = False  # told apart by its place in an older log, not by an id or a file
    began: float | None = None  # Unix seconds of its first record with a clock time; None without a clock
    summary: SessionSummary = field(default_factory=SessionSummary)
    segments: list[Segment] = field(default_factory=list)
    periods: dict[int, Counter] = field(default_factory=dict)  # period number -> label -> seconds
    end_s: float = 0.0  # audio seconds it covers: the latest window end
    last_start: float | None = None  # the latest window's start, seconds


class SessionReport:
    """Everything ``report`` shows, built by :meth:`read` from logs read in time
    order (see :func:`in_time_order`).

    Args:
        period_s: length of the periods of the dominant-emotion table, seconds.
    """

    def __init__(self, period_s: float = DEFAULT_PERIOD_S):
        self.period_s = period_s
        self.labels: list[str] = []  # the models' classes, then any others in the order heard
        self.skipped = 0  # lines that are not JSON objects
        self.refused = 0  # records with impossible values
        self.first_refusal: str | None = None  # "FILE line N: what is wrong" of the first
        self._sessions: dict[str, LoggedSession] = {}
        self._unnamed = 0  # sessions told apart without an id (logs older than session ids)

    def read(self, path: str | Path) -> None:
        """Add a log's records.

        Raises:
            LogError: a log that is missing or unreadable, or a line too long
                to be a record (the records before it are kept).
        """
        reader = LogReader(path)
        try:
            for record in reader:
                try:
                    self._add_record(record)
                except ValueError as err:
                    self.refused += 1
                    self.first_refusal = self.first_refusal or f"{path} line {reader.line}: {err}"
        finally:
            self.skipped += reader.skipped

    def _add_record(self, record: dict) -> None:
        kind = record.get("type", "window")
        if kind == "session":
            clock = _clock(record)
            session = self._session(record, clock, new=True)
            if isinstance(record.get("source"), str):
                session.source = record["source"]
            if isinstance(record.get("labels"), list):
                # Lanes and tables in the model's class order, not the order first heard.
                self.labels += [label for label in record["labels"]
                                if isinstance(label, str) and label != SILENCE and label not in self.labels]
        elif kind == "window" and {"start", "end", "label"} <= record.keys():
            self.add(record)

    def add(self, record: dict) -> None:
        """Count one window record.

        Raises:
            ValueError: a record with impossible values, checked before anything
                is counted (the message says what is wrong).
        """
        label = record["label"]
        start, end = _number(record["start"], "start"), _number(record["end"], "end")
        clock = _clock(record)
        probabilities = _probabilities(record.get("raw_probabilities"))
        if not isinstance(label, str):
            raise ValueError("its label is not text")
        if not 0 <= start < end <= _MAX_STREAM_S:
            raise ValueError(f"start {start:g} s and end {end:g} s are no window of a session under ten years")
        if end - start > _MAX_WINDOW_S:
            raise ValueError(f"a window of {end - start:g} s is longer than any model's")
        session = self._session(record, clock)
        if session.unnamed and session.last_start is not None and start < session.last_start:
            session = self._session(record, clock, new=True)  # an older log: the next session begins
        credited = session.summary.add(start, end, label, probabilities)
        session.last_start, session.end_s = start, max(session.end_s, end)
        if label != SILENCE and label not in self.labels:
            self.labels.append(label)
        if credited <= 0:
            return
        began = end - credited
        last = session.segments[-1] if session.segments else None
        if last is not None and last.label == label and abs(last.end - began) < 1e-6:
            last.end = end
        else:
            session.segments.append(Segment(began, end, label))
        session.periods.setdefault(int(began // self.period_s), Counter())[label] += credited

    def _session(self, record: dict, clock: float | None, new: bool = False) -> LoggedSession:
        """The session ``record`` belongs to (created if new): by its id, else
        by its file, else the latest unnamed one (``new``: a new unnamed one).

        Raises:
            ValueError: a session id that is not text.
        """
        ident, file = record.get("session"), record.get("file")
        if ident is not None and not isinstance(ident, str):
            raise ValueError("its session id is not text")
        if ident is not None:
            key, source = f"id {ident}", ""
        elif isinstance(file, str):
            key, source = f"file {file}", file
        else:
            if new or not self._unnamed:
                self._unnamed += 1
            key, source = f"unnamed {self._unnamed}", ""
        session = self._sessions.setdefault(key, LoggedSession(ident, source, unnamed=key.startswith("unnamed")))
        if session.began is None and clock is not None:
            session.began = clock
        return session

    def sessions(self) -> list[LoggedSession]:
        """The sessions with windows: those with a clock in the order they began,
        then those without (``file --json`` recordings) in the order read."""
        found = [s for s in self._sessions.values() if s.summary.windows]
        return sorted(found, key=lambda s: (s.began is None, s.began or 0.0))

    def totals(self) -> SessionSummary:
        """Time per emotion, stretches and verdict of all sessions together."""
        return SessionSummary.combined(s.summary for s in self.sessions())

    def dominant_per_period(self, session: LoggedSession) -> list[tuple[float, str, float, float]]:
        """(period start in seconds into ``session``, dominant emotion or "silence",
        its share of the period's speech, speech seconds) per period with windows."""
        rows = []
        for number in sorted(session.periods):
            counts = session.periods[number]
            speech = {k: v for k, v in counts.items() if k != SILENCE}
            spoken = sum(speech.values())
            if spoken:
                label, seconds = max(speech.items(), key=lambda kv: kv[1])
                rows.append((number * self.period_s, label, seconds / spoken, spoken))
            else:
                rows.append((number * self.period_s, SILENCE, 0.0, 0.0))
        return rows


def _number(value, name: str) -> float:
    """``value`` as a finite float. Raises ValueError naming ``name`` otherwise."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    except OverflowError:  # an integer beyond any float
        pass
    raise ValueError(f"its {name} is not a finite number")


def _clock(record: dict) -> float | None:
    """A record's clock ``time`` (Unix seconds), None without one.
    Raises ValueError for one that is no time of this century."""
    if "time" not in record:
        return None
    clock = _number(record["time"], "time")
    if not _CLOCK_RANGE[0] <= clock < _CLOCK_RANGE[1]:
        raise ValueError(f"its time {clock:g} is not a Unix time between the years 2000 and 2100")
    return clock


def _probabilities(value) -> dict[str, float] | None:
    """A window's raw probabilities, None for silence. Raises ValueError unless
    every one is a number from 0 to 1."""
    if value is None:
        return None
    if isinstance(value, dict):
        try:
            values = {name: _number(p, "probability") for name, p in value.items()}
        except ValueError:
            values = None
        if values is not None and all(0 <= p <= 1 for p in values.values()):
            return values
    raise ValueError("its raw_probabilities are not probabilities from 0 to 1")


def in_time_order(paths: Iterable[str]) -> list[str]:
    """``paths`` to read: logs with clock times first, by the time of their first
    record (rotated parts, given in any order, oldest first), then the rest
    (``file --json`` output, and logs that cannot be read, which reading
    reports) in the order given."""
    def first_time(path: str) -> float | None:
        try:
            for record in LogReader(path):
                return _clock(record)
        except (LogError, ValueError):
            pass
        return None

    times = {path: first_time(path) for path in paths}
    return sorted(times, key=lambda path: (times[path] is None, times[path] or 0.0))


def plot_timeline(report: SessionReport, path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Write the timeline as a PNG: one lane per emotion (and silence) with a
    bar wherever it was the smoothed label, sessions one after another in audio
    time (a line and its number where each begins). ``path`` is replaced only
    once the image is whole, and never where it is one of ``inputs`` (the logs).

    Raises:
        OutputError: ``path`` is no file to write (see :mod:`livesense.writing`).
        OSError: it cannot be written.
    """
    import logging

    # Without a writable home matplotlib warns (in several lines) that it made a
    # temporary cache directory; that is fine for one PNG and not worth the noise.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg")  # files only, no GUI toolkit needed
    import matplotlib.pyplot as plt

    from .display import label_color

    sessions = report.sessions()
    offsets = [sum(s.end_s for s in sessions[:n]) for n in range(len(sessions))]  # seconds, back to back
    lanes = report.labels + [SILENCE]
    # The terminal's colours in matplotlib's names (greys for white and silence; gold reads better on white).
    greys = {"white": "0.6", "bright_black": "0.85", "yellow": "gold"}
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(lanes) + 1.6))
    for lane, label in enumerate(lanes):
        bars = [((offset + s.start) / 60, (s.end - s.start) / 60)
                for session, offset in zip(sessions, offsets) for s in session.segments if s.label == label]
        color = label_color(label, report.labels)
        ax.broken_barh(bars, (lane - 0.4, 0.8), color=greys.get(color, color.removeprefix("bright_")))
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_xlim(0, max(sum(s.end_s for s in sessions) / 60, 1e-3))
    ax.invert_yaxis()
    if len(sessions) > 1:
        for number, offset in enumerate(offsets, 1):
            ax.axvline(offset / 60, color="0.3", linewidth=0.8)
            ax.text(offset / 60, 1.0, f" {number}", transform=ax.get_xaxis_transform(), va="bottom", fontsize=8)
        ax.set_xlabel("minutes of audio, sessions one after another (numbered as in the report; "
                      "the time between them left out)")
    elif sessions and sessions[0].began is not None:
        import datetime as dt

        began = dt.datetime.fromtimestamp(sessions[0].began).strftime("%Y-%m-%d %H:%M:%S")
        ax.set_xlabel(f"minutes of audio into the session that began {began}")
    else:
        ax.set_xlabel("minutes into the recording")
    totals = report.totals()
    ax.set_title(f"livesense: {len(sessions)} session(s), {duration(totals.duration_s)}, "
                 f"speech {duration(totals.speech_s)}, overall {totals.verdict().label} ({VERDICT_RULE})",
                 pad=14 if len(sessions) > 1 else 6)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    try:
        with replacing(path, inputs) as file:
            fig.savefig(file, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
