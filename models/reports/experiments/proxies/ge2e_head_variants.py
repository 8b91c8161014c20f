"""Offline proxy: variants of the GE2E voice head's fit, beside the ensemble (session 14).

    PYTHONPATH=. .venv/bin/python models/reports/experiments/proxies/ge2e_head_variants.py runs  # -> ge2e-head-variants.log

Same windows, embeddings (runs/ge2e/windows, from ge2e_windows.py), fold models and
modes as ge2e_windows.py, whose "fusion cen w=0.5" row is the shipped head (the
baseline here). The ensemble's window probabilities are cached per fold
(runs/ge2e/ensemble-<fold>.npz). Variants of the head's fit:
- weights: each class equal (shipped), or each training speaker equal and each class
  equal within that (a corpus of 2 voices no longer outweighs one of 24);
- cold copies: the training windows centred as each clip alone too (a fresh stream),
  beside each speaker's stream, so the head learns a clip judged against the prior;
- prior: windows of the training mean a stream starts from (shipped: 4), and that
  mean over windows (shipped), speakers or corpora;
- every other window: only every other speech window embedded, the others repeating
  the last head output (half the encoder's cost);
- NAP k: nuisance attribute projection, as in speaker verification turned around: the
  k main directions in which the training speakers' mean embeddings (each emotion
  weighted alike) differ are projected out of every embedding, so a cold clip's voice
  weighs less;
- head: a logistic regression (shipped), an MLP (one hidden layer of 64 or 256 units,
  classes balanced by resampling) or an RBF SVM (Platt-scaled probabilities).
"""
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from livesense.features import FeatureConfig
from livesense.model import EmotionModel
from livesense.normalization import RunningStats, normalize_running
from training.data import load_clips
from training.dataset import build_windows
from training.protocols import PROTOCOLS

sys.path.insert(0, str(Path(__file__).parent))
from common import centred, streams, ua_and_share  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)  # SVC(probability=True), deprecated in 1.9
runs = Path(sys.argv[1])
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]
labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
embedded = {c.path: np.load(runs / "ge2e/windows" / f"{c.corpus}-{c.path.stem}.npy") for c in clips}
features = None


def ensemble_probs(fold):
    global features
    path = runs / f"ge2e/ensemble-{fold.name}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=True)
        return list(z["cold"]), list(z["session"])
    if features is None:
        features = {w.clip.path: w for w in build_windows(clips, config, runs / "cache")}
    model = EmotionModel(runs / "folds/cross-corpus-ensemble" / fold.name / "ensemble.onnx")
    cold, session = [None] * len(fold.test), [None] * len(fold.test)
    for i, c in enumerate(fold.test):
        cw = features[c.path]
        running = RunningStats(model.info.global_stats, level_prior_frames=0)
        cold[i] = model.predict(normalize_running(running, cw.windows[0], cw.speech[0]))
    for order in streams(fold.test):
        running = RunningStats(model.info.global_stats, level_prior_frames=0)
        for i in order:
            cw = features[fold.test[i].path]
            session[i] = model.predict(normalize_running(running, cw.windows[0], cw.speech[0]))
    arr = lambda xs: np.array(xs + [None], dtype=object)[:-1]
    np.savez(path, cold=arr(cold), session=arr(session))
    return cold, session


def summary(y, clip_probs):
    return ua_and_share(y, clip_probs, labels)


def fuse(a, b, w):
    return [np.exp(w * np.log(p + 1e-6) + (1 - w) * np.log(q + 1e-6)).mean(0) for p, q in zip(a, b)]


def prior_mean(fold, of):
    """The training windows' mean embedding, each window equal ("windows", shipped),
    each speaker equal ("speakers") or each corpus equal ("corpora")."""
    if of == "windows":
        return np.concatenate([embedded[c.path] for c in fold.train]).mean(0)
    key = (lambda c: c.speaker) if of == "speakers" else (lambda c: c.corpus)
    groups = {}
    for c in fold.train:
        groups.setdefault(key(c), []).append(embedded[c.path])
    return np.mean([np.concatenate(g).mean(0) for g in groups.values()], axis=0)


def nap(fold, k):
    """``embedded`` with the k main directions of the training speakers' means projected out."""
    if k == 0:
        return embedded
    means = {}
    for c in fold.train:
        means.setdefault(c.speaker, {}).setdefault(c.emotion, []).append(embedded[c.path])
    voices = np.array([np.mean([np.concatenate(v).mean(0) for v in d.values()], 0) for d in means.values()])
    basis = np.linalg.svd(voices - voices.mean(0), full_matrices=False)[2][:k]
    return {path: e - (e @ basis.T) @ basis for path, e in embedded.items()}


def fit_classifier(kind, x, y, weight):
    if kind == "logreg":
        return LogisticRegression(C=1.0, max_iter=3000).fit(x, y, sample_weight=weight)
    if kind == "svc":
        return SVC(C=1.0, probability=True, class_weight="balanced", random_state=0).fit(x, y)
    rng, most = np.random.default_rng(0), np.bincount(y).max()  # an MLP takes no weights: resample
    idx = np.concatenate([rng.choice(np.flatnonzero(y == k), most) for k in np.unique(y)])
    units, alpha = {"mlp64": (64, 1e-2), "mlp256": (256, 1e-1)}[kind]
    return MLPClassifier((units,), alpha=alpha, max_iter=300, early_stopping=True, random_state=0).fit(x[idx], y[idx])


def fit_head(fold, prior, speaker_weights, cold_copies, every=1, mean_of="windows", kind="logreg"):
    mean = prior_mean(fold, mean_of)
    xs, ys, speakers = [], [], []
    for order in streams(fold.train):
        total, count = mean * prior, prior
        for i in order:
            c = fold.train[i]
            out, total, count = centred(embedded[c.path][::every], total / count, count)
            xs.append(out), ys.append([labels.index(c.emotion)] * len(out)), speakers.append([c.speaker] * len(out))
            if cold_copies:
                out = centred(embedded[c.path][::every], mean, prior)[0]
                xs.append(out), ys.append([labels.index(c.emotion)] * len(out)), speakers.append([c.speaker] * len(out))
    x, y, s = np.concatenate(xs), np.concatenate(ys), np.concatenate(speakers)
    weight = np.ones(len(y))
    if speaker_weights:
        for spk in np.unique(s):
            for k in np.unique(y[s == spk]):
                m = (s == spk) & (y == k)
                weight[m] = 1.0 / m.sum()
    else:
        for k in np.unique(y):
            weight[y == k] = 1.0 / (y == k).sum()
    weight *= len(y) / weight.sum()
    return fit_classifier(kind, x, y, weight), mean


def head_probs(fold, head, mean, prior, every=1):
    """Per test clip, the head's probabilities per window (cold, session); with every=2
    only every other window is embedded and the others repeat the last embedded one."""
    def expand(p, n):
        return np.repeat(p, every, axis=0)[:n]
    cold = [expand(head.predict_proba(centred(embedded[c.path][::every], mean, prior)[0]), len(embedded[c.path]))
            for c in fold.test]
    session = [None] * len(fold.test)
    for order in streams(fold.test):
        total, count = mean * prior, prior
        for i in order:
            e = embedded[fold.test[i].path]
            out, total, count = centred(e[::every], total / count, count)
            session[i] = expand(head.predict_proba(out), len(e))
    return cold, session


VARIANTS = {  # name: (prior, speaker_weights, cold_copies, every, mean_of, nap k[, head])
    "shipped": (4, False, False, 1, "windows", 0),
    "speaker-weights": (4, True, False, 1, "windows", 0),
    "cold-copies": (4, False, True, 1, "windows", 0),
    "speaker-weights+cold-copies": (4, True, True, 1, "windows", 0),
    "prior 8": (8, False, False, 1, "windows", 0),
    "prior 16 +cold-copies": (16, False, True, 1, "windows", 0),
    "every other window": (4, False, False, 2, "windows", 0),
    "mean of speakers": (4, False, False, 1, "speakers", 0),
    "mean of corpora": (4, False, False, 1, "corpora", 0),
    "NAP 3": (4, False, False, 1, "windows", 3),
    "NAP 8": (4, False, False, 1, "windows", 8),
    "NAP 15": (4, False, False, 1, "windows", 15),
    "NAP 25": (4, False, False, 1, "windows", 25),
    "MLP 64": (4, False, False, 1, "windows", 0, "mlp64"),
    "MLP 256": (4, False, False, 1, "windows", 0, "mlp256"),
    "RBF SVM": (4, False, False, 1, "windows", 0, "svc"),
}
if len(sys.argv) > 2:
    VARIANTS = {k: v for k, v in VARIANTS.items() if k in sys.argv[2].split(";")}
folds = list(proto.make_folds(clips, 0))
cache = {f.name: ensemble_probs(f) for f in folds}
print("ensemble alone", " ".join(
    f"{f.name} cold {summary(np.array([labels.index(c.emotion) for c in f.test]), [p.mean(0) for p in cache[f.name][0]])[0]:.3f}"
    for f in folds), flush=True)
original = embedded
for name, (prior, spk, cold_copies, every, mean_of, nap_k, *kind) in VARIANTS.items():
    row = {m: [] for m in ("cold", "session")}
    text = []
    for fold in folds:
        y = np.array([labels.index(c.emotion) for c in fold.test])
        embedded = nap(fold, nap_k)
        head, mean = fit_head(fold, prior, spk, cold_copies, every, mean_of, *kind)
        hc, hs = head_probs(fold, head, mean, prior, every)
        embedded = original
        ec, es = cache[fold.name]
        for mode, e, h in (("cold", ec, hc), ("session", es, hs)):
            ua, share = summary(y, fuse(e, h, 0.5))
            row[mode].append(ua)
            text.append(f"{mode} {fold.name[9:]} {ua:.3f}/{share:.2f}")
    print(f"{name}: cold {np.mean(row['cold']):.3f} session {np.mean(row['session']):.3f} | " + " ".join(text), flush=True)
