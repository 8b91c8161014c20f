"""Offline proxy: the voice head's cold shifts, measured on corpora it did not hear (session 15).

    PYTHONPATH=. .venv/bin/python models/reports/experiments/proxies/ge2e_cold_shift.py runs  # -> ge2e-cold-shift.log

Session 14's head (ensemble 0.4, embedding 0.3, top-layer states 0.3, as ge2e_layers.py's
first mix) reads half of CREMA-D's clips alone as *disgust* when it has heard only TESS
and RAVDESS. Each fold's classifiers are fitted again with each of the fold's training
corpora left out; each labels the corpus left out one clip at a time (a cold start from
its training mean), and the shift added to its logits is:
- none: session 14's head;
- one shot, in full: minus the log of each label's share (plus 0.02), averaged over the
  corpora left out, centred, added to every window;
- search, in full: training.voice._even_shift, the shift spreading those labels most
  evenly, added to every window;
- search, faded (ships in session 15): the same search with the shift times each
  window's share of the training mean in its running mean (4 / windows counted), as
  livesense.voice applies it: in full when a stream starts, fading in a session.
Scored cold and session as ge2e_layers.py, with the same cached features and ensemble
probabilities. The shifts are fitted on the fold's training corpora only.
"""
import sys
from pathlib import Path

import numpy as np

from training.data import load_clips
from training.protocols import PROTOCOLS
from training.voice import SHARE_FLOOR, _even_shift

sys.path.insert(0, str(Path(__file__).parent))
from common import stream_head, ua_and_share  # noqa: E402

runs = Path(sys.argv[1])
proto = PROTOCOLS["cross-corpus"]
labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
states = {c.path: np.load(runs / "ge2e/layers" / f"{c.corpus}-{c.path.stem}.npy") for c in clips}
embedded = {c.path: np.load(runs / "ge2e/windows" / f"{c.corpus}-{c.path.stem}.npy") for c in clips}
# key: (features of a window from (pooled states, embedding), standardised, C, weight)
HEADS = {"embedding": (lambda s, e: e, False, 1.0, 0.3), "states": (lambda s, e: s[:, 1024:1536], True, 0.01, 0.3)}
ENSEMBLE_WEIGHT, PRIOR = 0.4, 4


def fit(train, test, key):
    """The head fitted on ``train``, and per ``test`` clip its windows' logits and the
    training mean's share of their running means: {"cold", "session"} -> [(logits, share)]."""
    pick, standardised, C, _ = HEADS[key]
    feats = {c.path: pick(states[c.path], embedded[c.path]) for c in train + test}
    return stream_head(train, test, feats, labels, standardised, C, "decision_function", PRIOR)


def log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def one_shot(found):
    shares = np.mean([np.bincount([np.exp(log_softmax(x)).mean(0).argmax() for x, _ in corpus],
                                  minlength=len(labels)) / len(corpus) for corpus in found], axis=0)
    shift = -np.log(shares + SHARE_FLOOR)
    return shift - shift.mean()


def in_full(found):
    """``found`` with every window's share set to 1: the shift is added whole."""
    return [[(x, np.ones(len(x))) for x, _ in corpus] for corpus in found]


# name: (the shift from the corpora left out, faded at run time)
CORRECTIONS = {"none": (lambda found: np.zeros(len(labels)), False), "one shot, in full": (one_shot, False),
               "search, in full": (lambda found: _even_shift(in_full(found), len(labels)), False),
               "search, faded": (lambda found: _even_shift(found, len(labels)), True)}
rows = {name: {"cold": [], "session": []} for name in CORRECTIONS}
for fold in proto.make_folds(clips, 0):
    ensemble = np.load(runs / f"ge2e/ensemble-{fold.name}.npz", allow_pickle=True)
    y = np.array([labels.index(c.emotion) for c in fold.test])
    logits, shifts = {}, {name: {} for name in CORRECTIONS}
    for key in HEADS:
        logits[key] = fit(fold.train, fold.test, key)
        found = [fit([c for c in fold.train if c.corpus != left], [c for c in fold.train if c.corpus == left], key)["cold"]
                 for left in sorted({c.corpus for c in fold.train})]
        for name, (correct, _) in CORRECTIONS.items():
            shifts[name][key] = correct(found)
            print(f"{fold.name} {key} {name}: shift {np.round(shifts[name][key], 2).tolist()}", flush=True)
    for name, (_, faded) in CORRECTIONS.items():
        for mode in ("cold", "session"):
            clip_probs = []
            for i in range(len(y)):
                mixed = ENSEMBLE_WEIGHT * np.log(ensemble[mode][i] + 1e-6)
                for key in HEADS:
                    x, share = logits[key][mode][i]
                    mixed = mixed + HEADS[key][3] * log_softmax(x + (share[:, None] if faded else 1.0) * shifts[name][key])
                clip_probs.append(np.exp(mixed).mean(0))
            rows[name][mode].append(ua_and_share(y, clip_probs, labels))
for name, row in rows.items():
    for mode, per_fold in row.items():
        ua, share = np.array(per_fold).T
        print(f"{name}, {mode}: mean UA {ua.mean():.3f} | UA (TESS, RAVDESS, CREMA-D) {np.round(ua, 3).tolist()} "
              f"| largest share {np.round(share, 2).tolist()}")
