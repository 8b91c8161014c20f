"""Offline proxy: how a cold clip is normalised.

    PYTHONPATH=. python models/reports/experiments/proxies/cold_normalisation.py runs two-passes   # -> two-passes.log
    PYTHONPATH=. python models/reports/experiments/proxies/cold_normalisation.py runs prior-frames # -> prior-frames.log

two-passes: running statistics (as the engine does) against the statistics the stream
holds at its end (two passes over a file), level prior None (500) and 0.
prior-frames: the prior weight of every term but the level (level prior 0).
"""
import sys
from pathlib import Path
import numpy as np
from livesense.features import FeatureConfig
from livesense.model import EmotionModel
from livesense.normalization import RunningStats, normalize_running
from training.data import load_clips
from training.dataset import build_windows
from training.protocols import PROTOCOLS
from training.metrics import scores

runs, variant = Path(sys.argv[1]), sys.argv[2]
# (name, prior_frames, level_prior_frames, two passes) per variant
SETTINGS = {
    "two-passes": [(f"lp={lp} {mode}", 500, lp, mode == "two-pass") for lp in (None, 0) for mode in ("running", "two-pass")],
    "prior-frames": [(f"pf={pf}", pf, 0, False) for pf in (100, 250, 500, 1000, 100000)],
}[variant]
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]; labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
windows = {w.clip.path: w for w in build_windows(clips, config, runs / "cache")}
for fold in proto.make_folds(clips, 0):
    for name in ("ensemble", "logreg"):
        model = EmotionModel(runs / "folds/cross-corpus-ensemble" / fold.name / f"{name}.onnx")
        out = {}
        for label, pf, lp, two_passes in SETTINGS:
            preds = []
            for clip in fold.test:
                cw = windows[clip.path]
                x, sp = cw.windows[0], cw.speech[0]
                running = RunningStats(model.info.global_stats, prior_frames=pf, level_prior_frames=lp)
                xn = normalize_running(running, x, sp)
                if two_passes:
                    count = np.maximum(running._count, 1e-9)
                    mean = running._sum / count
                    std = np.sqrt(np.maximum(running._sum_sq / count - mean**2, 0))
                    xn = ((x - mean) / np.maximum(std, 1e-3)).astype(np.float32)
                preds.append(model.predict(xn).mean(0).argmax())
            y = np.array([labels.index(c.emotion) for c in fold.test])
            out[label] = scores(y, np.array(preds), labels)["ua"]
        print(fold.name, name, " | ".join(f"{k}: {v:.3f}" for k, v in out.items()), flush=True)
