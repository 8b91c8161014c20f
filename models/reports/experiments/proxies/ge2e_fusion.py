"""Offline proxy, step 2 of 2: GE2E clip embeddings (ge2e_embed.py) beside the ensemble.

    PYTHONPATH=. .venv/bin/python models/reports/experiments/proxies/ge2e_fusion.py runs   # -> ge2e-fusion.log

Cross-corpus folds, seed 0, the kept fold models (runs/folds/cross-corpus-ensemble).
Per held-out clip:
- ensemble, cold: the mean of its windows' probabilities, the clip alone, running
  statistics from the model's prior with the level term from the stream (level prior 0,
  as shipped), as in cold_normalisation.py;
- ge2e, cold: a logistic regression on the clip's embedding, fitted on the fold's
  training corpora;
- ge2e, session: the embedding minus the mean of the speaker's earlier clips' embeddings
  in a seeded order (the first clip: minus the training speakers' mean), the logistic
  regression fitted on embeddings minus each training speaker's mean;
- ensemble, session: the speaker's clips in the same seeded order through one set of
  running statistics (as a session streams them, without the gaps and smoothing);
- fusion: log-probabilities mixed with weight w on the ensemble's (w = 0.5 decided
  before measuring; others shown), cold with cold, session with session;
- the logistic regressions' C: 1 (decided before measuring); 0.1 and 10 shown for the
  cold mode.
"""
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from livesense.features import FeatureConfig
from livesense.model import EmotionModel
from livesense.normalization import RunningStats, normalize_running
from training.data import load_clips
from training.dataset import build_windows
from training.metrics import scores
from training.protocols import PROTOCOLS

runs = Path(sys.argv[1])
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]
labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
paths = (runs / "ge2e/paths.txt").read_text().splitlines()
assert paths == [str(c.path) for c in clips], "paths.txt is not this clip list: write it again"
embedding = dict(zip(paths, np.load(runs / "ge2e/embeddings.npy")))
windows = {w.clip.path: w for w in build_windows(clips, config, runs / "cache")}


def speaker_centred(group, session_seed=None, fallback=None):
    """Embeddings of ``group`` minus their speaker's mean (all clips), or, with
    ``session_seed``, minus the mean of the speaker's earlier clips in a seeded order."""
    x = np.stack([embedding[str(c.path)] for c in group])
    out = np.zeros_like(x)
    by_speaker = {}
    for i, c in enumerate(group):
        by_speaker.setdefault(c.speaker, []).append(i)
    for speaker, idx in by_speaker.items():
        if session_seed is None:
            out[idx] = x[idx] - x[idx].mean(0)
            continue
        order = np.random.default_rng([session_seed, len(idx)]).permutation(idx)
        seen = []
        for i in order:
            reference = np.mean(x[seen], 0) if seen else fallback
            out[i] = x[i] - reference
            seen.append(i)
    return out


def summary(name, y, probs):
    pred = probs.argmax(1)
    share = np.bincount(pred, minlength=len(labels)).max() / len(pred)
    return f"{name}: UA {scores(y, pred, labels)['ua']:.3f} share {share:.2f}"


for fold in proto.make_folds(clips, 0):
    model = EmotionModel(runs / "folds/cross-corpus-ensemble" / fold.name / "ensemble.onnx")
    ens = []
    for clip in fold.test:
        cw = windows[clip.path]
        running = RunningStats(model.info.global_stats, level_prior_frames=0)
        ens.append(model.predict(normalize_running(running, cw.windows[0], cw.speech[0])).mean(0))
    ens = np.array(ens)
    ens_session = np.zeros_like(ens)
    by_speaker = {}
    for i, c in enumerate(fold.test):
        by_speaker.setdefault(c.speaker, []).append(i)
    for speaker, idx in by_speaker.items():
        running = RunningStats(model.info.global_stats, level_prior_frames=0)
        for i in np.random.default_rng([0, len(idx)]).permutation(idx):
            cw = windows[fold.test[i].path]
            ens_session[i] = model.predict(normalize_running(running, cw.windows[0], cw.speech[0])).mean(0)
    y_train = np.array([labels.index(c.emotion) for c in fold.train])
    y = np.array([labels.index(c.emotion) for c in fold.test])
    x_train = np.stack([embedding[str(c.path)] for c in fold.train])
    x_test = np.stack([embedding[str(c.path)] for c in fold.test])
    cold = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(x_train, y_train)
    emb_cold = cold.predict_proba(x_test)
    centred = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
        speaker_centred(fold.train), y_train)
    emb_session = centred.predict_proba(speaker_centred(fold.test, 0, x_train.mean(0)))
    emb_oracle = centred.predict_proba(speaker_centred(fold.test))
    rows = [summary("ensemble cold", y, ens), summary("ge2e cold", y, emb_cold),
            summary("ge2e session", y, emb_session), summary("ge2e speaker mean (oracle)", y, emb_oracle)]
    rows.append(summary("ensemble session", y, ens_session))
    for c_value in (0.1, 10.0):
        other = LogisticRegression(C=c_value, max_iter=2000, class_weight="balanced").fit(x_train, y_train)
        rows.append(summary(f"ge2e cold C={c_value}", y, other.predict_proba(x_test)))
    for w in (0.25, 0.5, 0.75):
        for mode, a, b in (("cold", ens, emb_cold), ("session", ens_session, emb_session)):
            fused = np.exp(w * np.log(a + 1e-6) + (1 - w) * np.log(b + 1e-6))
            rows.append(summary(f"fusion {mode} w={w}", y, fused))
    print(fold.name, " | ".join(rows), flush=True)
