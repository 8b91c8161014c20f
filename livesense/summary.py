"""Running totals over a timeline of windows: time per emotion, speech time,
longest stretches and an overall verdict, in memory independent of length.

Used for a file's verdict, the live display, the end-of-session summary and
``livesense report``. Windows overlap, so each one is credited only with the
time it adds beyond the previous window's end (the hop, or the whole window
for the first); the credited times add up to the duration covered.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .engine import SILENCE


@dataclass
class Verdict:
    """Overall emotion of a timeline: the class with the highest mean raw
    probability over its speech windows (``label`` is "silence" without speech)."""

    label: str
    confidence: float | None  # that mean probability, 0..1
    speech_s: float
    duration_s: float


class SessionSummary:
    """Accumulates windows in time order (several sessions may follow each
    other, as in an appended log: a window starting before the previous one
    starts a new session)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()  # credited seconds per label, "silence" included
        self.longest: dict[str, float] = {}  # label -> longest unbroken stretch, seconds
        self.windows = 0
        self._prob_sum: dict[str, float] = {}
        self._speech_windows = 0
        self._last_start: float | None = None
        self._last_end = 0.0
        self._run_label: str | None = None
        self._run_s = 0.0

    def add(self, start_s: float, end_s: float, label: str,
            raw_probabilities: dict[str, float] | None = None) -> float:
        """Count one window; returns the seconds credited to it."""
        if self._last_start is None or start_s < self._last_start:
            credited = end_s - start_s
            self._close_run()
        else:
            credited = max(0.0, end_s - max(start_s, self._last_end))
        self._last_start, self._last_end = start_s, end_s
        self.windows += 1
        self.seconds[label] += credited
        if label != self._run_label:
            self._close_run()
            self._run_label = label
        self._run_s += credited
        if raw_probabilities is not None:
            self._speech_windows += 1
            for name, p in raw_probabilities.items():
                self._prob_sum[name] = self._prob_sum.get(name, 0.0) + p
        return credited

    def _close_run(self) -> None:
        if self._run_label is not None:
            self.longest[self._run_label] = max(self.longest.get(self._run_label, 0.0), self._run_s)
        self._run_label, self._run_s = None, 0.0

    def longest_stretches(self) -> dict[str, float]:
        """Longest unbroken stretch per label in seconds, the current one included."""
        result = dict(self.longest)
        if self._run_label is not None:
            result[self._run_label] = max(result.get(self._run_label, 0.0), self._run_s)
        return result

    @property
    def duration_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def speech_s(self) -> float:
        return self.duration_s - self.seconds.get(SILENCE, 0.0)

    def emotion_seconds(self) -> dict[str, float]:
        """Credited seconds per emotion (silence left out), largest first."""
        return {k: v for k, v in self.seconds.most_common() if k != SILENCE}

    def verdict(self) -> Verdict:
        if not self._speech_windows:
            return Verdict(SILENCE, None, 0.0, self.duration_s)
        names = list(self._prob_sum)
        means = np.array([self._prob_sum[n] for n in names]) / self._speech_windows
        best = int(np.argmax(means))
        return Verdict(names[best], float(means[best]), self.speech_s, self.duration_s)
