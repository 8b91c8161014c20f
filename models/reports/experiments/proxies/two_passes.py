"""Offline proxy: cold clips normalised by running statistics (as the engine does)
vs by the statistics the stream has at its end (two passes over a file); level prior 0 and 500."""
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

runs = Path(sys.argv[1])
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]; labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
windows = {w.clip.path: w for w in build_windows(clips, config, runs / "cache")}
for fold in proto.make_folds(clips, 0):
    for name in ("ensemble", "logreg"):
        model = EmotionModel(runs / "folds/cross-corpus-ensemble" / fold.name / f"{name}.onnx")
        out = {}
        for lp in (None, 0):
            for mode in ("running", "two-pass"):
                preds = []
                for clip in fold.test:
                    cw = windows[clip.path]
                    x, sp = cw.windows[0], cw.speech[0]
                    running = RunningStats(model.info.global_stats, level_prior_frames=lp)
                    xn = normalize_running(running, x, sp)
                    if mode == "two-pass":
                        count = np.maximum(running._count, 1e-9)
                        mean = running._sum / count
                        std = np.sqrt(np.maximum(running._sum_sq / count - mean**2, 0))
                        xn = ((x - mean) / np.maximum(std, 1e-3)).astype(np.float32)
                    preds.append(model.predict(xn).mean(0).argmax())
                y = np.array([labels.index(c.emotion) for c in fold.test])
                out[f"lp={lp} {mode}"] = scores(y, np.array(preds), labels)["ua"]
        print(fold.name, name, " | ".join(f"{k}: {v:.3f}" for k, v in out.items()), flush=True)
