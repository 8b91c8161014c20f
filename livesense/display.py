"""The live terminal readout of ``listen`` and ``demo`` (a ``rich`` renderable).

The session's worker thread calls :meth:`LiveDisplay.update` /
:meth:`LiveDisplay.set_level`; ``rich.live.Live`` renders it from its own
refresh thread, so state changes and rendering share a lock. Everything kept
is bounded: the timeline is a deque of the last ``timeline_windows`` windows.
"""
from __future__ import annotations

import threading
from collections import deque

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .engine import SILENCE, WindowResult
from .summary import SessionSummary

_COLORS = {
    "angry": "red", "disgust": "green", "fear": "magenta", "happy": "yellow",
    "neutral": "white", "sad": "blue", "calm": "cyan", "surprise": "bright_cyan",
    SILENCE: "bright_black",
}
_FALLBACK = ["cyan", "bright_red", "bright_green", "bright_magenta", "bright_yellow", "bright_blue"]
_BAR_WIDTH = 30
_METER_FLOOR_DBFS = -60.0


def label_color(label: str, labels: list[str]) -> str:
    """A stable colour per emotion, also for models with other class names."""
    if label in _COLORS:
        return _COLORS[label]
    return _FALLBACK[labels.index(label) % len(_FALLBACK)] if label in labels else "white"


def _bar(fraction: float, width: int, color: str) -> Text:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return Text("█" * filled, style=color) + Text("░" * (width - filled), style="bright_black")


def _clock(seconds: float) -> str:
    """Whole seconds (truncated) as a clock for the live panel: "0:07", "12:34",
    "1:02:03". ``report`` writes durations in words instead, with
    :func:`livesense.output.duration` ("7.5 s", "12 min 34 s")."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class LiveDisplay:
    """State and rendering of the live readout.

    Args:
        labels: the model's classes, in output order.
        summary: the session's running totals (shared with the session runner).
        hop_s: seconds between windows (one timeline cell per window).
        source: what is being listened to, shown in the title.
        timeline_windows: windows kept for the rolling timeline (default 3 min at 0.5 s).
    """

    def __init__(self, labels: list[str], summary: SessionSummary, hop_s: float, source: str = "",
                 timeline_windows: int = 360):
        self.labels = list(labels)
        self.summary = summary
        self.hop_s = hop_s
        self.source = source
        self.timeline: deque[str] = deque(maxlen=timeline_windows)
        self.current: WindowResult | None = None
        self.last_speech: WindowResult | None = None
        self.level_dbfs = -100.0
        self.overflows = 0
        self.latency_s: float | None = None
        self.status: str | None = None  # device or log trouble, shown in red
        # Held while rendering; writers of ``summary`` hold it too.
        self.lock = threading.Lock()

    def update(self, result: WindowResult, latency_s: float | None = None) -> None:
        with self.lock:
            self.current = result
            if result.is_speech:
                self.last_speech = result
            self.timeline.append(result.label)
            if latency_s is not None:
                self.latency_s = latency_s

    def set_level(self, dbfs: float) -> None:
        self.level_dbfs = dbfs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        with self.lock:
            yield self._render(options.max_width)

    def _render(self, width: int) -> Panel:
        current, speech = self.current, self.last_speech
        head = Text()
        if current is None:
            head.append("waiting for audio…", style="bright_black")
        elif current.is_speech:
            head.append("● speech  ", style="bold green")
            head.append(current.label.upper(), style=f"bold {label_color(current.label, self.labels)}")
            head.append(f"  {current.confidence:.0%}", style="bold")
        else:
            head.append("○ silence", style="bright_black")
            if speech is not None:
                head.append(f"   last: {speech.label} {speech.confidence:.0%}", style="bright_black")

        # Bars show the latest speech window; they dim during silence.
        bars = Table.grid(padding=(0, 1))
        for label in self.labels:
            p = speech.probabilities[label] if speech is not None else 0.0
            color = label_color(label, self.labels) if current is not None and current.is_speech else "bright_black"
            bars.add_row(Text(f"{label:>9}"), _bar(p, _BAR_WIDTH, color), Text(f"{p:5.0%}"))

        level = (self.level_dbfs - _METER_FLOOR_DBFS) / -_METER_FLOOR_DBFS
        meter = Text("    level ") + _bar(level, _BAR_WIDTH, "green" if level < 0.9 else "red")
        meter.append(f" {self.level_dbfs:6.1f} dBFS")

        # As many of the latest windows as fit inside the panel (borders and padding: 4).
        cells = list(self.timeline)[-max(1, width - 4):]
        timeline = Text(f"timeline, last {_clock(len(cells) * self.hop_s)} "
                        f"(one cell per {self.hop_s:g} s window, · = silence)\n", style="bright_black")
        for label in cells:
            timeline.append("·" if label == SILENCE else label[0].upper(), style=label_color(label, self.labels))

        totals = Table(title="time per emotion", title_justify="left", box=None, padding=(0, 1), show_header=False)
        spoken = self.summary.speech_s
        for label, seconds in self.summary.emotion_seconds().items():
            share = seconds / spoken if spoken else 0.0
            totals.add_row(Text(label, style=label_color(label, self.labels)), _clock(seconds), f"{share:.0%}")
        totals.add_row(Text(SILENCE, style="bright_black"), _clock(self.summary.seconds.get(SILENCE, 0.0)), "")

        latency = "–" if self.latency_s is None else f"{self.latency_s * 1000:.0f} ms"
        footer = Text(
            f"session {_clock(self.summary.duration_s)}   speech {_clock(spoken)}   "
            f"overflows {self.overflows}   latency {latency}",
            style="bright_black",
        )
        parts = [head, Text(), bars, meter, Text(), timeline, Text(), totals, footer]
        if self.status:
            parts.append(Text(self.status, style="bold red"))
        title = Text("livesense" + (f" — {self.source}" if self.source else ""))
        return Panel(Group(*parts), title=title, subtitle="Ctrl-C to stop", border_style="cyan")
