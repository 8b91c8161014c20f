"""The voice head (:mod:`livesense.voice`): GE2E embeddings of training windows and the head fitted on them.

Embeddings are taken of exactly the windows the emotion models train on (the
originals, not augmented copies: :func:`~training.dataset.clip_window_audio`),
cached beside the feature windows. The head is fitted on each embedding minus
the running mean of its speaker's windows, each training speaker's clips streamed
in a seeded order through :class:`~livesense.voice.RunningVoice`, as a session
streams a user's speech.
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
from livesense.voice import ENCODER_PATH, RunningVoice, VoiceEncoder, VoiceHead

from .corpora import Clip
from .dataset import WINDOWS_VERSION, clip_window_audio

# Training-mean windows a stream's running mean starts from, the emotion model's
# share of the mixed log-probabilities, and the head's inverse regularisation:
# chosen before measuring (models/reports/recipe-experiments.md, session 13).
PRIOR_WINDOWS = 4
MODEL_WEIGHT = 0.5
HEAD_C = 1.0


def voice_embeddings(clips: list[Clip], config: FeatureConfig, cache_dir: Path) -> dict[Path, np.ndarray]:
    """Each clip's window embeddings, float32 (k, 256), in :func:`clip_window_audio`'s order; cached."""
    encoder_hash = hashlib.sha256(ENCODER_PATH.read_bytes()).hexdigest()[:12]
    key = json.dumps([config.to_dict(), f"v{WINDOWS_VERSION}", encoder_hash], sort_keys=True)
    cache = Path(cache_dir) / f"voice-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    encoder, result = None, {}
    with Progress(transient=True) as progress:
        task = progress.add_task("voice embeddings", total=len(clips))
        for clip in clips:
            path = cache / f"{clip.corpus}-{clip.path.stem}.npy"
            if not path.exists():
                encoder = encoder or VoiceEncoder(threads=2)
                pieces = clip_window_audio(read_audio(clip.path, config.sample_rate), config)
                np.save(path, np.concatenate([encoder.embed(list(pieces[i : i + 8]))
                                              for i in range(0, len(pieces), 8)]))
            result[clip.path] = np.load(path)
            progress.advance(task)
    return result


def fit_voice_head(clips: list[Clip], embeddings: dict[Path, np.ndarray], labels: list[str], seed: int) -> VoiceHead:
    """The head fitted on ``clips``' window embeddings, centred as a session centres them."""
    mean = np.concatenate([embeddings[c.path] for c in clips]).mean(axis=0).astype(np.float64)
    by_speaker: dict[str, list[Clip]] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip)
    x, y = [], []
    for speaker, group in sorted(by_speaker.items()):
        running = RunningVoice(mean, PRIOR_WINDOWS)
        for i in np.random.default_rng([seed, len(group)]).permutation(len(group)):
            x.append(running.centre(embeddings[group[i].path]))
            y += [labels.index(group[i].emotion)] * len(x[-1])
    regression = LogisticRegression(C=HEAD_C, max_iter=3000, class_weight="balanced").fit(np.concatenate(x), y)
    return VoiceHead(regression.coef_.astype(np.float64), regression.intercept_.astype(np.float64), mean,
                     PRIOR_WINDOWS, MODEL_WEIGHT)
