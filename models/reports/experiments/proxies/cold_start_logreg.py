# PYTHONPATH=. python models/reports/experiments/proxies/cold_start_logreg.py runs  -> cold-start-logreg.log
"""Offline proxy: logreg trained on speaker-normalised windows (shipped) vs on
windows normalised as a fresh stream of the clip alone (a cold-start model),
scored cold (each clip alone from the prior), level prior None (500) or 0."""
import sys
from pathlib import Path
import numpy as np
from sklearn.linear_model import LogisticRegression
from livesense.features import FeatureConfig
from training.data import TrainingData, validation_split
from training.fit import window_arrays, window_statistics
from training.protocols import PROTOCOLS
from training.metrics import scores

runs = Path(sys.argv[1])
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]; labels = list(proto.labels)
data = TrainingData.load(Path("../shared/datasets"), proto.corpora, proto.labels, config, runs / "cache")

def fit(x, y, owners, items):
    ids = {s: i for i, s in enumerate(sorted({it.clip.speaker for it in items}))}
    pair = np.array([ids[it.clip.speaker] for it in items])[owners] * len(labels) + y
    counts = np.bincount(pair)
    w = len(y) / (np.count_nonzero(counts) * counts[pair])
    clf = LogisticRegression(C=0.1, max_iter=5000, random_state=0)
    clf.fit(window_statistics(x), y, sample_weight=w)
    return clf

def clip_ua(clf, x, owners, n, y_true):
    p = clf.predict_proba(window_statistics(x))
    sums = np.zeros((n, p.shape[1])); np.add.at(sums, owners, p)
    return scores(y_true, sums.argmax(1), labels)["ua"]

for fold in proto.make_folds(data.clips, 0):
    train, _ = validation_split(fold.train, 0)
    items, test = data.windows_of(train), data.windows_of(fold.test)
    prior = data.pooled_all_speech({c.speaker for c in fold.train})
    y_true = np.array([labels.index(c.emotion) for c in fold.test])
    row = []
    shipped = fit(*window_arrays(items, data.all_speech, labels)[:3], items)
    for lp in (None, 0):
        xt, _, ot = window_arrays(test, data.all_speech, labels, (0,), prior, (0,), lp)
        row.append(f"speaker-trained lp={lp}: {clip_ua(shipped, xt, ot, len(test), y_true):.3f}")
        for copies in ((0,), (0, 1, 2)):
            x, y, o = window_arrays(items, data.all_speech, labels, copies, prior, copies, lp)
            cold = fit(x, y, o, items)
            row.append(f"cold-trained{copies} lp={lp}: {clip_ua(cold, xt, ot, len(test), y_true):.3f}")
    print(fold.name, " | ".join(row), flush=True)
