"""The voice head (:mod:`livesense.voice`): GE2E voice features of training windows and the head fitted on them.

Voice features are taken of exactly the windows the emotion models train on (the
originals, not augmented copies: :func:`~training.dataset.clip_window_audio`),
cached beside the feature windows. The head's classifiers are fitted on each
window's features minus the running mean of its speaker's windows, each training
speaker's clips streamed in a seeded order through
:class:`~livesense.voice.RunningVoice`, as a session streams a user's speech.

A classifier fitted on some corpora, meeting another, says some labels far more often
than others (session 14's head read half of CREMA-D's clips as *disgust* when it had
heard only TESS and RAVDESS), and a user's microphone is another corpus. So each
classifier gets a ``cold_shift`` of its logits, measured on corpora it has not heard:
fitted again with each training corpus left out, it labels that corpus's clips one at
a time as ``livesense file`` would, and the shift is the one under which those labels
are spread most evenly (:func:`_cold_shifts`). At run time the shift fades as a
stream's running mean fills with the speaker's own voice, which a session's head knows
how to read: applied in full to sessions too, it cost RAVDESS 4 points (session 15).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from rich.progress import Progress
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression

from livesense.audio import read_audio
from livesense.features import FeatureConfig
from livesense.voice import (EMBEDDING_COLUMNS, ENCODER_PATH, STATES_COLUMNS, RunningVoice, VoiceClassifier,
                             VoiceEncoder, VoiceHead)

from .corpora import Clip
from .dataset import WINDOWS_VERSION, clip_window_audio

# Training-mean windows a stream's running mean starts from (chosen before measuring,
# session 13), and the head's classifiers: the columns each reads, its inverse
# regularisation, whether its columns are divided by their training deviation, and
# its share of the mixed log-probabilities (the emotion model has the rest). The
# embedding's classifier is session 13's; the top layer's states were chosen in
# session 14 by the offline proxies of models/reports/recipe-experiments.md.
PRIOR_WINDOWS = 4
CLASSIFIERS = ((EMBEDDING_COLUMNS, 1.0, False, 0.3), (STATES_COLUMNS, 0.01, True, 0.3))
# The cold shift's search: steps of minus half the log of each label's share (plus
# the floor, so that a label never said moves by a bounded step), shrinking so that a
# classifier whose labels flip at a small shift settles (session 15).
SHIFT_STEPS, SHIFT_DECAY, SHARE_FLOOR = 30, 0.9, 0.02


def _voice_features(clips: list[Clip], config: FeatureConfig, cache_dir: Path) -> dict[Path, np.ndarray]:
    """Each clip's windows' voice features, float32 (k, VOICE_FEATURES), in
    :func:`clip_window_audio`'s order; cached."""
    encoder_hash = hashlib.sha256(ENCODER_PATH.read_bytes()).hexdigest()[:12]
    key = json.dumps([config.to_dict(), f"v{WINDOWS_VERSION}", encoder_hash], sort_keys=True)
    cache = Path(cache_dir) / f"voice-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    encoder, result = None, {}
    with Progress(transient=True) as progress:
        task = progress.add_task("voice features", total=len(clips))
        for clip in clips:
            path = cache / f"{clip.corpus}-{clip.path.stem}.npy"
            if not path.exists():
                encoder = encoder or VoiceEncoder(threads=2)
                pieces = clip_window_audio(read_audio(clip.path, config.sample_rate), config)
                np.save(path, np.concatenate([encoder.describe(list(pieces[i : i + 8]))
                                              for i in range(0, len(pieces), 8)]))
            result[clip.path] = np.load(path)
            progress.advance(task)
    return result


def fit_voice_head(clips: list[Clip], labels: list[str], config: FeatureConfig, cache_dir: Path,
                   seed: int) -> VoiceHead:
    """The head fitted on ``clips``' windows' voice features (cached in ``cache_dir``),
    centred as a session centres them, with each classifier's cold shift from
    :func:`_cold_shifts` (zeros where ``clips`` come from one corpus)."""
    voice = _voice_features(clips, config, cache_dir)
    head = _fit(clips, voice, labels, seed)
    for classifier, shift in zip(head.classifiers, _cold_shifts(clips, voice, labels, seed)):
        classifier.cold_shift = shift
    return head


def _fit(clips: list[Clip], voice: dict[Path, np.ndarray], labels: list[str], seed: int) -> VoiceHead:
    """The head's mean and :data:`CLASSIFIERS` fitted on ``clips``' voice features, without cold shifts."""
    raw = np.concatenate([voice[c.path] for c in clips]).astype(np.float64)
    mean = raw.mean(axis=0)
    by_speaker: dict[str, list[Clip]] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip)
    x, y = [], []
    for speaker, group in sorted(by_speaker.items()):
        running = RunningVoice(mean, PRIOR_WINDOWS)
        for i in np.random.default_rng([seed, len(group)]).permutation(len(group)):
            x.append(running.centre(voice[group[i].path])[0])
            y += [labels.index(group[i].emotion)] * len(x[-1])
    centred = np.concatenate(x)
    classifiers = []
    for (start, stop), c, standardised, weight in CLASSIFIERS:
        scale = raw[:, start:stop].std(axis=0) + 1e-6 if standardised else np.ones(stop - start)
        regression = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(
            centred[:, start:stop] / scale, y)
        classifiers.append(VoiceClassifier(start, stop, regression.coef_.astype(np.float64),
                                           regression.intercept_.astype(np.float64), scale, weight,
                                           np.zeros(len(labels))))
    return VoiceHead(mean, PRIOR_WINDOWS, classifiers)


def _cold_shifts(clips: list[Clip], voice: dict[Path, np.ndarray], labels: list[str],
                 seed: int) -> list[np.ndarray]:
    """Per classifier, its ``cold_shift`` (n_classes,), centred: the shift
    (:func:`_even_shift`) that most evenly spreads the labels the classifier, fitted
    without a corpus, gives that corpus's clips, each alone from the training mean (a
    cold start, the shift fading as at run time; a clip's label is its windows'
    highest mean probability), over the corpora left out. Zeros where no corpus can be
    left out with every label still in the rest."""
    held: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in CLASSIFIERS]  # classifier, corpus left out
    for corpus in sorted({c.corpus for c in clips}):
        rest = [c for c in clips if c.corpus != corpus]
        if {c.emotion for c in rest} != set(labels):
            continue
        head = _fit(rest, voice, labels, seed)
        centred = [RunningVoice(head.mean, head.prior_windows).centre(voice[c.path]) for c in clips if c.corpus == corpus]
        for found, classifier in zip(held, head.classifiers):
            found.append([(classifier.logits(x, share), share) for x, share in centred])
    return [_even_shift(found, len(labels)) for found in held]


def _even_shift(held: list[list[tuple[np.ndarray, np.ndarray]]], n_classes: int) -> np.ndarray:
    """The cold shift that spreads the clips' labels most evenly: the lowest largest share
    of one label, averaged over the corpora, found in :data:`SHIFT_STEPS` shrinking
    steps from no shift. ``held``: per corpus, per clip, its windows' logits without a
    shift (windows, n_classes) and their prior shares (windows,)."""
    def shares(shift: np.ndarray) -> np.ndarray:
        return np.mean([np.bincount([softmax(logits + share[:, None] * shift, axis=1).mean(axis=0).argmax()
                                     for logits, share in corpus], minlength=n_classes) / len(corpus)
                        for corpus in held], axis=0)

    shift, best, best_share = np.zeros(n_classes), np.zeros(n_classes), np.inf
    for step in range(SHIFT_STEPS if held else 0):
        found = shares(shift)
        if found.max() < best_share:
            best, best_share = shift, found.max()
        move = np.log(found + SHARE_FLOOR)
        shift = shift - 0.5 * SHIFT_DECAY**step * (move - move.mean())
    return best - best.mean()
