"""Evaluation protocols: how clips are split into folds, and which labels are scored.

Every split but ``tess-random`` keeps speakers (and for ``cross-corpus`` whole
corpora) apart between training and test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .corpora import RAVDESS_CLASSES, SIX_CLASSES, Clip


@dataclass
class Fold:
    name: str
    train: list[Clip]
    test: list[Clip]


@dataclass
class Protocol:
    name: str
    corpora: tuple[str, ...]
    labels: tuple[str, ...]
    split: str  # one line for reports and model cards
    make_folds: Callable[[list[Clip], int], list[Fold]]
    # Extra label set scored from the same predictions (e.g. RAVDESS's 6 shared classes).
    sub_labels: tuple[str, ...] | None = None
    # Also score each fold's models through the runtime, in the modes users meet
    # (training.streamed): the headline protocol only, as it takes a while.
    runtime: bool = False


def _tess_random(clips: list[Clip], seed: int) -> list[Fold]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for emotion in SIX_CLASSES:  # stratified 80/20
        group = [c for c in clips if c.emotion == emotion]
        chosen = set(rng.permutation(len(group))[: round(0.2 * len(group))])
        for i, clip in enumerate(group):
            (test if i in chosen else train).append(clip)
    return [Fold("random-80-20", train, test)]


def _tess_cross_speaker(clips: list[Clip], seed: int) -> list[Fold]:
    return [Fold(f"train-{a}-test-{b}", [c for c in clips if c.speaker == f"tess/{a}"],
                 [c for c in clips if c.speaker == f"tess/{b}"]) for a, b in (("OAF", "YAF"), ("YAF", "OAF"))]


def _grouped(clips: list[Clip], groups: list[list[str]]) -> list[Fold]:
    folds = []
    for i, held_out in enumerate(groups):
        held = set(held_out)
        folds.append(Fold(f"fold{i}", [c for c in clips if c.speaker not in held],
                          [c for c in clips if c.speaker in held]))
    return folds


def _ravdess_actors(clips: list[Clip], seed: int) -> list[Fold]:
    # Consecutive actors: each fold holds out two men (odd ids) and two women (even).
    speakers = sorted({c.speaker for c in clips})
    return _grouped(clips, [speakers[i : i + 4] for i in range(0, len(speakers), 4)])


def _cremad_actors(clips: list[Clip], seed: int) -> list[Fold]:
    speakers = sorted({c.speaker for c in clips})
    order = np.random.default_rng(seed).permutation(len(speakers))
    return _grouped(clips, [[speakers[j] for j in order[k::5]] for k in range(5)])


def _cross_corpus(clips: list[Clip], seed: int) -> list[Fold]:
    corpora = sorted({c.corpus for c in clips}, key=("tess", "ravdess", "cremad").index)
    return [Fold(f"held-out-{name}", [c for c in clips if c.corpus != name], [c for c in clips if c.corpus == name])
            for name in corpora]


PROTOCOLS = {p.name: p for p in (
    Protocol("tess-random", ("tess",), SIX_CLASSES,
             "TESS, stratified random 80/20 split of clips (same 2 speakers and words on both sides)", _tess_random),
    Protocol("tess-cross-speaker", ("tess",), SIX_CLASSES,
             "TESS, train on one speaker, test on the other (OAF→YAF and YAF→OAF)", _tess_cross_speaker),
    Protocol("ravdess-actors", ("ravdess",), RAVDESS_CLASSES,
             "RAVDESS, 6 folds of 4 held-out actors (2 female, 2 male), 8 classes", _ravdess_actors,
             sub_labels=SIX_CLASSES),
    Protocol("cremad-actors", ("cremad",), SIX_CLASSES,
             "CREMA-D (91-actor subset), 5 folds grouped by actor", _cremad_actors),
    Protocol("cross-corpus", ("tess", "ravdess", "cremad"), SIX_CLASSES,
             "leave one corpus out: train on two corpora, test on the third", _cross_corpus, runtime=True),
    # The same without CREMA-D: does a third corpus help on the two others?
    Protocol("cross-corpus-no-cremad", ("tess", "ravdess"), SIX_CLASSES,
             "TESS and RAVDESS only: train on one, test on the other", _cross_corpus),
)}


def report_stem(protocol: str, model: str, seed: int | str = 0) -> str:
    """File name, without suffix, of ``model``'s report on ``protocol``: seed 0 is the
    reference run; other seeds' repeats sit beside it (``"*"``: a glob of all of them)."""
    return f"{protocol}-{model}" + (f"-seed{seed}" if seed else "")
