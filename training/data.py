"""The data a training run starts from, shared by training, evaluation and the baselines:
the chosen clips, their feature windows and their speakers' statistics."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livesense.features import FeatureConfig
from livesense.normalization import FeatureStats, ProfileAdjustment

from .corpora import Clip, LoadSummary, load_corpora, subsample
from .dataset import ClipWindows, build_windows, speaker_stats


def usable(clips: list[Clip], labels: tuple[str, ...]) -> list[Clip]:
    """Clips whose emotion is one of ``labels`` (e.g. drops TESS's 'surprise' for 6 classes)."""
    return [c for c in clips if c.emotion in labels]


def load_clips(data_dir: Path, corpora: tuple[str, ...] | list[str], labels: tuple[str, ...],
               clips_per_speaker: int | None = None,
               speakers_per_corpus: int | None = None) -> tuple[list[Clip], list[LoadSummary]]:
    """The clips of ``corpora`` labelled with one of ``labels``, and what loading each corpus found.

    ``clips_per_speaker`` keeps only that many clips per speaker and emotion, of the
    first ``speakers_per_corpus`` speakers of each corpus (all if None): smoke runs.
    """
    clips, summaries = load_corpora(data_dir, list(corpora))
    clips = usable(clips, labels)
    if clips_per_speaker:
        clips = subsample(clips, clips_per_speaker, speakers_per_corpus)
    return clips, summaries


def validation_split(clips: list[Clip], seed: int) -> tuple[list[Clip], list[Clip]]:
    """Hold out ~20% of the training speakers for early stopping (20% of clips if < 3 speakers)."""
    rng = np.random.default_rng(seed + 1)
    speakers = sorted({c.speaker for c in clips})
    if len(speakers) >= 3:
        by_corpus: dict[str, list[str]] = {}
        for s in speakers:
            by_corpus.setdefault(s.split("/")[0], []).append(s)
        held = set()
        for group in by_corpus.values():  # from every corpus, so no corpus is unseen by validation
            if len(group) >= 3:
                held |= set(rng.choice(group, max(1, round(0.2 * len(group))), replace=False))
        if held:
            return [c for c in clips if c.speaker not in held], [c for c in clips if c.speaker in held]
    chosen = set(rng.permutation(len(clips))[: round(0.2 * len(clips))])
    return [c for i, c in enumerate(clips) if i not in chosen], [c for i, c in enumerate(clips) if i in chosen]


@dataclass
class TrainingData:
    """Clips with their feature windows and per-speaker statistics, as the models are trained and scored on.

    ``neutral`` and ``all_speech`` map each speaker to the statistics of the speech
    frames of their neutral clips (what a calibration profile holds) and of all their
    clips (what running statistics converge to over a long session of that voice).
    Both may hold more speakers than ``clips`` (their cache is shared between runs).
    """

    clips: list[Clip]
    summaries: list[LoadSummary]
    windows: dict[Path, ClipWindows]  # by clip path
    neutral: dict[str, FeatureStats]
    all_speech: dict[str, FeatureStats]

    @classmethod
    def load(cls, data_dir: Path, corpora: tuple[str, ...] | list[str], labels: tuple[str, ...], config: FeatureConfig,
             cache: Path, clips_per_speaker: int | None = None, speakers_per_corpus: int | None = None,
             copies: str = "gain-noise") -> "TrainingData":
        """Clips as :func:`load_clips` chooses them, windows (with the augmented
        ``copies`` of :data:`~training.dataset.AUGMENTATIONS`) and statistics computed
        with ``config`` and cached under ``cache``."""
        clips, summaries = load_clips(data_dir, corpora, labels, clips_per_speaker, speakers_per_corpus)
        return cls(clips, summaries, {w.clip.path: w for w in build_windows(clips, config, cache, copies)},
                   speaker_stats(clips, config, cache, ("neutral",)), speaker_stats(clips, config, cache, None))

    def windows_of(self, clips: list[Clip]) -> list[ClipWindows]:
        """The windows of ``clips``, in their order."""
        return [self.windows[c.path] for c in clips]

    def reference(self, kind: str) -> dict[str, FeatureStats]:
        """Training speakers' normalisation statistics for :attr:`FitOptions.reference` ``kind``
        (``"all"``: all their speech; ``"neutral"``: their neutral clips)."""
        return self.all_speech if kind == "all" else self.neutral

    def pooled_all_speech(self, speakers: set[str]) -> FeatureStats:
        """Statistics of all speech frames of ``speakers`` pooled (a model's global statistics)."""
        chosen = [self.all_speech[s] for s in sorted(speakers)]
        weights = np.array([s.n_frames for s in chosen], dtype=float)
        mean = np.average([s.mean for s in chosen], axis=0, weights=weights)
        second = np.average([s.std**2 + s.mean**2 for s in chosen], axis=0, weights=weights)
        return FeatureStats(mean, np.sqrt(np.maximum(second - mean**2, 0)), int(weights.sum()))

    def profile_adjustment(self, speakers: set[str]) -> ProfileAdjustment:
        """The average shift from neutral to all speech of ``speakers``: how the runtime turns
        a calibration profile into statistics for a model referenced to all speech."""
        chosen = sorted(speakers)
        return ProfileAdjustment.between([self.neutral[s] for s in chosen], [self.all_speech[s] for s in chosen])
