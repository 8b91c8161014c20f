"""Offline proxy: GE2E embeddings of the very windows the runtime classifies, beside the ensemble.

    PYTHONPATH=. .venv/bin/python models/reports/experiments/proxies/ge2e_windows.py runs   # -> ge2e-windows.log

Needs runs/ge2e/ge2e.onnx (scripts/export_ge2e.py) and the kept fold models
(runs/folds/cross-corpus-ensemble). No torch: the encoder runs in onnxruntime.
Cross-corpus folds, seed 0. Each clip's windows are cut as ``livesense file`` cuts
them (the speech windows, else the one with most speech, as training does); each
window's 2 s of audio is set to -30 dBFS RMS (resemblyzer's level, so the
embedding does not see the gain) and embedded. Heads are logistic regressions
(C = 1, balanced classes) fitted on the training corpora's windows:
- raw: on the embedding as it is;
- centred: on the embedding minus a running mean of the stream's speech windows'
  embeddings so far (this window included), started from the training windows' mean
  counted as PRIOR windows: in training, each speaker's windows in a seeded order
  as one stream.
A clip's verdict is the highest mean probability of its windows. Modes as the runtime's:
cold (each clip alone) and session (a speaker's clips in a seeded order, one stream).
Fusion mixes a window's log-probabilities, weight w on the ensemble's.
"""
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.linear_model import LogisticRegression

from livesense.features import FeatureConfig
from livesense.model import EmotionModel
from livesense.normalization import RunningStats, normalize_running
from training.data import load_clips
from training.dataset import build_windows
from training.protocols import PROTOCOLS

sys.path.insert(0, str(Path(__file__).parent))
from common import centred, encoder_input, streams, ua_and_share  # noqa: E402

PRIOR = 4  # windows of the training mean that a stream's running mean starts from
runs = Path(sys.argv[1])
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]
labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
features = {w.clip.path: w for w in build_windows(clips, config, runs / "cache")}
options = ort.SessionOptions()
options.intra_op_num_threads = 2
encoder = ort.InferenceSession(str(runs / "ge2e/ge2e.onnx"), options, providers=["CPUExecutionProvider"])
cache = runs / "ge2e/windows"
cache.mkdir(exist_ok=True)


def window_embeddings(clip):
    path = cache / f"{clip.corpus}-{clip.path.stem}.npy"
    if path.exists():
        return np.load(path)
    out = encoder.run(None, {"frames": encoder_input(clip, config)})[0]
    np.save(path, out)
    return out


embedded = {c.path: window_embeddings(c) for c in clips}
for c in clips:
    assert len(embedded[c.path]) == len(features[c.path].windows[0]), c.path
print("embedded", sum(len(v) for v in embedded.values()), "windows", flush=True)


def summary(name, y, clip_probs):
    ua, share = ua_and_share(y, clip_probs, labels)
    return f"{name}: UA {ua:.3f} share {share:.2f}"


for fold in proto.make_folds(clips, 0):
    model = EmotionModel(runs / "folds/cross-corpus-ensemble" / fold.name / "ensemble.onnx")
    train_x = np.concatenate([embedded[c.path] for c in fold.train])
    train_y = np.concatenate([[labels.index(c.emotion)] * len(embedded[c.path]) for c in fold.train])
    mean = train_x.mean(0)
    # centred training windows: each training speaker as one stream
    train_centred = {}
    for order in streams(fold.train):
        total, count = mean * PRIOR, PRIOR
        for i in order:
            c = fold.train[i]
            x, total_count = embedded[c.path], None
            out, total, count = centred(x, total / count, count)
            train_centred[c.path] = out
    train_cx = np.concatenate([train_centred[c.path] for c in fold.train])
    head_raw = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(train_x, train_y)
    head_c = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(train_cx, train_y)
    y = np.array([labels.index(c.emotion) for c in fold.test])
    results = {k: [None] * len(fold.test) for k in ("ens", "raw", "cen")}
    session = {k: [None] * len(fold.test) for k in ("ens", "raw", "cen")}
    for i, c in enumerate(fold.test):  # cold: each clip alone
        cw = features[c.path]
        running = RunningStats(model.info.global_stats, level_prior_frames=0)
        results["ens"][i] = model.predict(normalize_running(running, cw.windows[0], cw.speech[0]))
        results["raw"][i] = head_raw.predict_proba(embedded[c.path])
        results["cen"][i] = head_c.predict_proba(centred(embedded[c.path], mean, PRIOR)[0])
    for order in streams(fold.test):  # session: a speaker's clips as one stream
        running = RunningStats(model.info.global_stats, level_prior_frames=0)
        total, count = mean * PRIOR, PRIOR
        for i in order:
            c, cw = fold.test[i], features[fold.test[i].path]
            session["ens"][i] = model.predict(normalize_running(running, cw.windows[0], cw.speech[0]))
            session["raw"][i] = results["raw"][i]
            out, total, count = centred(embedded[c.path], total / count, count)
            session["cen"][i] = head_c.predict_proba(out)

    def fuse(a, b, w):
        return [np.exp(w * np.log(p + 1e-6) + (1 - w) * np.log(q + 1e-6)).mean(0) for p, q in zip(a, b)]

    rows = []
    for mode, table in (("cold", results), ("session", session)):
        rows += [summary(f"{mode} ensemble", y, [p.mean(0) for p in table["ens"]]),
                 summary(f"{mode} ge2e raw", y, [p.mean(0) for p in table["raw"]]),
                 summary(f"{mode} ge2e centred", y, [p.mean(0) for p in table["cen"]])]
        for head in ("raw", "cen"):
            for w in (0.25, 0.5):
                rows.append(summary(f"{mode} fusion {head} w={w}", y, fuse(table["ens"], table[head], w)))
    print(fold.name, " | ".join(rows), flush=True)
