"""``livesense report``: what a session log says, as tables and a timeline PNG.

Works on logs of ``listen``/``demo`` (windows carry a wall-clock ``time``)
and on ``file --json`` output (stream times only). Lines that are not JSON
objects, such as a last line cut off by a crash, are skipped and counted.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .engine import SILENCE
from .session_log import LogReader
from .summary import SessionSummary
from .writing import replacing

DEFAULT_PERIOD_S = 60.0
# Beyond any real stream time or Unix time (the year 5138): larger values are damage.
_MAX_SECONDS = 1e11


@dataclass
class Segment:
    """An unbroken run of one label; times in seconds on the report's clock."""

    start: float
    end: float
    label: str


@dataclass
class SessionReport:
    """Everything ``report`` shows. Times are seconds on one clock: Unix time
    for live logs, stream time for ``file --json`` output."""

    period_s: float
    summary: SessionSummary = field(default_factory=SessionSummary)
    periods: dict[int, Counter] = field(default_factory=dict)  # period number -> label -> seconds
    segments: list[Segment] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the model's classes, then any others in order heard
    skipped: int = 0
    wall_clock: bool = False

    def read(self, path: str | Path) -> None:
        """Add a log's window records (logs are read in the order given).

        Raises:
            LogError: a log that is missing or unreadable.
        """
        reader = LogReader(path)
        for record in reader:
            if record.get("type") == "session" and isinstance(record.get("labels"), list):
                # Lanes and tables in the model's class order, not the order first heard.
                self.labels += [label for label in record["labels"] if label not in self.labels]
            elif record.get("type", "window") == "window" and {"start", "end", "label"} <= record.keys():
                try:
                    self.add(record)
                except (TypeError, ValueError, OverflowError):
                    self.skipped += 1
        self.skipped += reader.skipped

    def add(self, record: dict) -> None:
        """Count one window record.

        Raises:
            ValueError, TypeError, OverflowError: a record with impossible values (checked
                before anything is counted, so the caller can skip it).
        """
        label = record["label"]
        start, end = float(record["start"]), float(record["end"])
        # A live record's ``time`` is when its window ended, on the wall clock.
        t_end = float(record["time"]) if "time" in record else end
        probabilities = record.get("raw_probabilities")
        if not (isinstance(label, str) and 0 <= start < end < _MAX_SECONDS and 0 <= t_end < _MAX_SECONDS):
            raise ValueError("window record out of range")
        if probabilities is not None and not (isinstance(probabilities, dict) and all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in probabilities.values())):
            raise ValueError("window record's probabilities are not numbers")
        credited = self.summary.add(start, end, label, probabilities)
        self.wall_clock = self.wall_clock or "time" in record
        if credited <= 0:
            return
        t_start = t_end - credited
        if label != SILENCE and label not in self.labels:
            self.labels.append(label)
        last = self.segments[-1] if self.segments else None
        # Merge with the previous run unless the label changed or there is a gap.
        if last is not None and last.label == label and abs(last.end - t_start) < 1.0:
            last.end = t_end
        else:
            self.segments.append(Segment(t_start, t_end, label))
        origin = self.segments[0].start
        self.periods.setdefault(int((t_start - origin) // self.period_s), Counter())[label] += credited

    @property
    def origin(self) -> float:
        return self.segments[0].start if self.segments else 0.0

    def dominant_per_period(self) -> list[tuple[float, str, float, float]]:
        """(period start on the report clock, dominant emotion or "silence",
        its share of the period's speech, speech seconds) per period."""
        rows = []
        for number in sorted(self.periods):
            counts = self.periods[number]
            speech = {k: v for k, v in counts.items() if k != SILENCE}
            spoken = sum(speech.values())
            if spoken:
                label, seconds = max(speech.items(), key=lambda kv: kv[1])
                rows.append((self.origin + number * self.period_s, label, seconds / spoken, spoken))
            else:
                rows.append((self.origin + number * self.period_s, SILENCE, 0.0, 0.0))
        return rows


def plot_timeline(report: SessionReport, path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Write the session timeline as a PNG: one lane per emotion (and silence)
    with a bar wherever it was the smoothed label. ``path`` is replaced only
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

    lanes = report.labels + [SILENCE]
    # The terminal's colours in matplotlib's names (greys for white and silence; gold reads better on white).
    greys = {"white": "0.6", "bright_black": "0.85", "yellow": "gold"}
    origin = report.origin
    span_min = max((report.segments[-1].end - origin) / 60 if report.segments else 0, 1e-3)
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(lanes) + 1.6))
    for lane, label in enumerate(lanes):
        bars = [((s.start - origin) / 60, (s.end - s.start) / 60) for s in report.segments if s.label == label]
        color = label_color(label, report.labels)
        ax.broken_barh(bars, (lane - 0.4, 0.8), color=greys.get(color, color.removeprefix("bright_")))
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_xlim(0, span_min)
    ax.invert_yaxis()
    if report.wall_clock:
        import datetime as dt

        began = dt.datetime.fromtimestamp(origin).strftime("%Y-%m-%d %H:%M:%S")
        ax.set_xlabel(f"minutes since {began}")
    else:
        ax.set_xlabel("minutes into the recording")
    verdict = report.summary.verdict()
    ax.set_title(f"livesense session: {report.summary.duration_s / 60:.1f} min, "
                 f"speech {report.summary.speech_s / 60:.1f} min, overall {verdict.label}")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    try:
        with replacing(path, inputs) as file:
            fig.savefig(file, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
