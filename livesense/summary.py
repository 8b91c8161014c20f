"""Running totals over a timeline of windows: time per emotion, speech time,
longest stretches and an overall verdict, in memory independent of length.

Used for a file's verdict, the live display, the end-of-session summary and
``livesense report``. Windows overlap, so each one is credited only with the
time it adds beyond the previous window's end (the hop, or the whole window
for the first); the credited times add up to the duration covered.

The verdict rule, the same everywhere: the overall emotion is the class of
highest mean raw probability over the speech windows (a tie: the one with more
credited time). Tables of time per emotion list emotions in that order
(:meth:`SessionSummary.emotion_seconds`) with their mean probability, so their
first row is the verdict. Measured through the runtime on the cross-corpus
protocol, clips alone, this rule scores up to 7 points higher than "the
emotion with the most time", whose smoothed labels lag behind the voice
(models/reports/recipe-experiments.md, session 10).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .engine import SILENCE

# How outputs name the rule beside the verdict.
VERDICT_RULE = "highest mean probability"


@dataclass
class Verdict:
    """Overall emotion of a timeline (see the module's rule); ``label`` is
    "silence" without speech."""

    label: str
    confidence: float | None  # mean raw probability of ``label`` over the speech windows, 0..1
    speech_s: float
    duration_s: float
    seconds: float = 0.0  # credited seconds of ``label``

    @property
    def share(self) -> float:
        """``label``'s share of the speech time, 0..1."""
        return self.seconds / self.speech_s if self.speech_s else 0.0


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

    @classmethod
    def combined(cls, summaries: Iterable[SessionSummary]) -> SessionSummary:
        """The totals of separate timelines (sessions) together: their times
        add up, a stretch never runs from one into the next."""
        total = cls()
        for summary in summaries:
            total.seconds.update(summary.seconds)
            for label, seconds in summary.longest_stretches().items():
                total.longest[label] = max(total.longest.get(label, 0.0), seconds)
            total.windows += summary.windows
            total._speech_windows += summary._speech_windows
            for name, p in summary._prob_sum.items():
                total._prob_sum[name] = total._prob_sum.get(name, 0.0) + p
        return total

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

    def mean_probabilities(self) -> dict[str, float]:
        """Mean raw probability per class over the speech windows, 0..1."""
        return {name: total / self._speech_windows for name, total in self._prob_sum.items()}

    def emotion_seconds(self) -> dict[str, float]:
        """Credited seconds per emotion in the verdict's order: highest mean raw
        probability first, a tie by more time. Silence is left out, and so is
        every emotion that was never credited time and is not the verdict."""
        means = self.mean_probabilities()
        best = max(means, key=lambda label: (means[label], self.seconds.get(label, 0.0))) if means else None
        shown = [label for label in set(self.seconds) | set(means)
                 if label != SILENCE and (self.seconds.get(label, 0.0) > 0 or label == best)]
        shown.sort(key=lambda label: (means.get(label, 0.0), self.seconds.get(label, 0.0)), reverse=True)
        return {label: self.seconds.get(label, 0.0) for label in shown}

    def verdict(self) -> Verdict:
        """The first emotion of :meth:`emotion_seconds`, or "silence" without speech."""
        ranked = self.emotion_seconds()
        if not self._speech_windows or not ranked:
            return Verdict(SILENCE, None, 0.0, self.duration_s)
        label, seconds = next(iter(ranked.items()))
        return Verdict(label, self.mean_probabilities().get(label), self.speech_s, self.duration_s, seconds)
