"""The voice head (:mod:`livesense.voice`): GE2E voice features of training windows and the head fitted on them.

Voice features are taken of exactly the windows the emotion models train on (the
originals, not augmented copies: :func:`~training.dataset.clip_window_audio`),
cached beside the feature windows. The head's classifiers are fitted on each
window's features minus the running mean of its speaker's windows, each training
speaker's clips streamed in a seeded order through
:class:`~livesense.voice.RunningVoice`, as a session streams a user's speech.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from rich.progress import Progress
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
    centred as a session centres them."""
    voice = _voice_features(clips, config, cache_dir)
    raw = np.concatenate([voice[c.path] for c in clips]).astype(np.float64)
    mean = raw.mean(axis=0)
    by_speaker: dict[str, list[Clip]] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip)
    x, y = [], []
    for speaker, group in sorted(by_speaker.items()):
        running = RunningVoice(mean, PRIOR_WINDOWS)
        for i in np.random.default_rng([seed, len(group)]).permutation(len(group)):
            x.append(running.centre(voice[group[i].path]))
            y += [labels.index(group[i].emotion)] * len(x[-1])
    centred = np.concatenate(x)
    classifiers = []
    for (start, stop), c, standardised, weight in CLASSIFIERS:
        scale = raw[:, start:stop].std(axis=0) + 1e-6 if standardised else np.ones(stop - start)
        regression = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(
            centred[:, start:stop] / scale, y)
        classifiers.append(VoiceClassifier(start, stop, regression.coef_.astype(np.float64),
                                           regression.intercept_.astype(np.float64), scale, weight))
    return VoiceHead(mean, PRIOR_WINDOWS, classifiers)
