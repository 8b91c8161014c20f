# PYTHONPATH=. python models/reports/experiments/proxies/similar_voices_prior.py runs  -> similar-voices-prior.log
"""Offline proxy: cold clips normalised from the global prior vs from the pooled
statistics of the K training speakers nearest to the clip's voice (two passes)."""
import sys
from pathlib import Path
import numpy as np
from livesense.features import FeatureConfig
from livesense.model import EmotionModel
from livesense.normalization import FeatureStats, RunningStats, normalize_running, LEVEL_COLUMN
from training.data import load_clips
from training.dataset import build_windows, speaker_stats
from training.protocols import PROTOCOLS
from training.metrics import scores

runs = Path(sys.argv[1]); cps = int(sys.argv[2]) if len(sys.argv) > 2 else None; spc = int(sys.argv[3]) if len(sys.argv) > 3 else None
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]; labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels, cps, spc)
windows = {w.clip.path: w for w in build_windows(clips, config, runs / "cache")}
stats = speaker_stats(clips, config, runs / "cache", None)

def pooled(chosen):
    w = np.array([s.n_frames for s in chosen], float)
    mean = np.average([s.mean for s in chosen], axis=0, weights=w)
    second = np.average([s.std**2 + s.mean**2 for s in chosen], axis=0, weights=w)
    return FeatureStats(mean, np.sqrt(np.maximum(second - mean**2, 0)), int(w.sum()))

KS = (0, 3, 10, 30)
for fold in proto.make_folds(clips, 0):
    train_speakers = sorted({c.speaker for c in fold.train})
    tstats = [stats[s] for s in train_speakers]
    means = np.array([s.mean for s in tstats])
    for name in ("ensemble", "logreg", "cnn"):
        model = EmotionModel(runs / "folds/cross-corpus-ensemble" / fold.name / f"{name}.onnx")
        g = model.info.global_stats
        n = g.mean.shape[0]
        scale = np.maximum(g.std, 1e-3)
        preds = {k: [] for k in KS}
        for clip in fold.test:
            cw = windows[clip.path]
            x, sp = cw.windows[0], cw.speech[0]
            frames = x[sp] if sp.any() else x.reshape(-1, x.shape[-1])
            m = frames.mean(0)
            d = (means - m) / scale
            d[:, LEVEL_COLUMN] = 0  # the level term says nothing of the voice
            order = np.argsort((d**2).sum(1))
            for k in KS:
                prior = g if k == 0 else pooled([tstats[i] for i in order[:k]])
                prior = FeatureStats(prior.mean[:n], prior.std[:n], prior.n_frames)
                if k:  # the level term keeps the global prior (the gain says nothing of the voice)
                    prior.mean[LEVEL_COLUMN], prior.std[LEVEL_COLUMN] = g.mean[LEVEL_COLUMN], g.std[LEVEL_COLUMN]
                running = RunningStats(prior, level_prior_frames=model.info.level_prior_frames)
                xn = normalize_running(running, x, sp)
                preds[k].append(model.predict(xn).mean(0).argmax())
        y = np.array([labels.index(c.emotion) for c in fold.test])
        print(fold.name, name, " ".join(f"K={k}: {scores(y, np.array(p), labels)['ua']:.3f}" for k, p in preds.items()), flush=True)
