"""Offline proxy: emotion from the GE2E encoder's hidden states, not its embedding (session 14).

    PYTHONPATH=. .venv/bin/python models/reports/experiments/proxies/ge2e_layers.py runs  # -> ge2e-layers.log

GE2E's embedding is trained to tell speakers apart, so it keeps of a voice what stays
the same whatever the speaker feels. Its three LSTM layers' states, frame by frame, may
hold more of how the voice moves. The encoder graph is the shipped one with each LSTM's
output sequence added as a graph output (no extra computation). Per window (the same
windows and level as ge2e_windows.py), each layer's states are pooled over the 201
frames: mean and standard deviation (512 values per layer). Heads as the shipped one
(logistic regression, classes balanced, C = 1, on the embedding minus the training
windows' mean; for the states, standardised with their deviation and C swept), minus the stream's running mean started from the
training mean counted as 4 windows), fused with the ensemble's window probabilities at
weight 0.5; cold and session as ge2e_head_variants.py, whose cached ensemble
probabilities it reads. Then mixes of several heads (each on its own features,
log-probabilities weighted): the one chosen, ensemble 0.4, embedding 0.3, layer 3
(C = 0.01) 0.3, ships in session 14 (livesense/voice.py).
"""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from livesense.features import FeatureConfig
from livesense.voice import ENCODER_PATH
from training.data import load_clips
from training.protocols import PROTOCOLS

sys.path.insert(0, str(Path(__file__).parent))
from common import encoder_input, stream_head, ua_and_share  # noqa: E402

runs = Path(sys.argv[1])
config = FeatureConfig()
proto = PROTOCOLS["cross-corpus"]
labels = list(proto.labels)
clips, _ = load_clips(Path("../shared/datasets"), proto.corpora, proto.labels)
graph = onnx.load(str(ENCODER_PATH))
for name in ("/lstm/LSTM_output_0", "/lstm/LSTM_1_output_0", "/lstm/LSTM_2_output_0"):
    graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
encoder = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
cache = runs / "ge2e/layers"
cache.mkdir(exist_ok=True)


def pooled_states(clip):
    """(windows, 3 layers x (256 means + 256 deviations)) for one clip."""
    path = cache / f"{clip.corpus}-{clip.path.stem}.npy"
    if path.exists():
        return np.load(path)
    _, *layers = encoder.run(None, {"frames": encoder_input(clip, config)})
    # each layer: (frames, 1, windows, 256)
    out = np.concatenate([np.concatenate([y[:, 0].mean(0), y[:, 0].std(0)], axis=1) for y in layers], axis=1)
    np.save(path, out.astype(np.float32))
    return out


states = {}
for n, c in enumerate(clips):
    states[c.path] = pooled_states(c)
    if n % 500 == 0:
        print("pooled", n, "of", len(clips), flush=True)
embedded = {c.path: np.load(runs / "ge2e/windows" / f"{c.corpus}-{c.path.stem}.npy") for c in clips}
for c in clips:
    assert len(states[c.path]) == len(embedded[c.path]), c.path


def summary(y, clip_probs):
    return ua_and_share(y, clip_probs, labels)


LAYERS = {  # name: features of a window from (pooled states, embedding)
    "embedding": lambda s, e: e,
    "layer 1 mean+std": lambda s, e: s[:, 0:512],
    "layer 2 mean+std": lambda s, e: s[:, 512:1024],
    "layer 3 mean+std": lambda s, e: s[:, 1024:1536],
    "layers 1-3 mean+std": lambda s, e: s,
    "embedding + layer 3 mean+std": lambda s, e: np.concatenate([e, s[:, 1024:1536]], 1),
    "embedding + layers 1, 3 mean+std": lambda s, e: np.concatenate([e, s[:, 0:512], s[:, 1024:1536]], 1),
}
# (layer, standardised per feature, C); the first is the shipped head
SOURCES = [("embedding", False, 1.0)] + [
    (layer, True, c) for layer in list(LAYERS)[:5] for c in (0.001, 0.01, 0.1)] + [
    (layer, True, c) for layer in list(LAYERS)[5:] for c in (0.001, 0.003, 0.01)] + [
    ("layer 1 mean+std", True, 0.0003), ("layer 3 mean+std", True, 0.003), ("layers 1-3 mean+std", True, 0.0003)]
# several heads at once: (weight on the ensemble, {source index: weight})
MIXES = [(0.4, {"emb": 0.3, "l3": 0.3}), (0.4, {"emb": 0.3, "l1": 0.3}), (0.4, {"l1": 0.3, "l3": 0.3}),
         (0.34, {"l1": 0.33, "l3": 0.33}), (0.4, {"l2": 0.3, "l3": 0.3}), (0.3, {"emb": 0.2, "l1": 0.25, "l3": 0.25}),
         (0.4, {"emb": 0.2, "l1": 0.2, "l3": 0.2})]
MIX_SOURCES = {"emb": ("embedding", False, 1.0), "l1": ("layer 1 mean+std", True, 0.001),
               "l2": ("layer 2 mean+std", True, 0.001), "l3": ("layer 3 mean+std", True, 0.01)}
PRIOR = 4
folds = list(proto.make_folds(clips, 0))
ensemble = {}
for fold in folds:
    z = np.load(runs / f"ge2e/ensemble-{fold.name}.npz", allow_pickle=True)
    ensemble[fold.name] = {"cold": list(z["cold"]), "session": list(z["session"])}


def head_probabilities(fold, layer, standardised, C):
    """The head's window probabilities per test clip, cold and session."""
    feats = {c.path: LAYERS[layer](states[c.path], embedded[c.path]) for c in fold.train + fold.test}
    read = stream_head(fold.train, fold.test, feats, labels, standardised, C, "predict_proba", PRIOR)
    return {mode: [p for p, _ in outputs] for mode, outputs in read.items()}


def mixed(parts):
    """Clip probabilities: the mean over windows of the weighted geometric mean of ``parts`` [(probs, weight)]."""
    return [np.exp(sum(w * np.log(p[i] + 1e-6) for p, w in parts)).mean(0) for i in range(len(parts[0][0]))]


def line(name, per_fold):
    """per_fold: {fold: {mode: (clip probabilities, head alone or None)}}"""
    row, text = {"cold": [], "session": []}, []
    for fold in folds:
        y = np.array([labels.index(c.emotion) for c in fold.test])
        for mode in ("cold", "session"):
            probs, alone = per_fold[fold.name][mode]
            ua, share = summary(y, probs)
            row[mode].append(ua)
            text.append(f"{mode} {fold.name[9:]} {ua:.3f}/{share:.2f}"
                        + (f" (head {summary(y, alone)[0]:.3f})" if alone is not None else ""))
    print(f"{name}: cold {np.mean(row['cold']):.3f} session {np.mean(row['session']):.3f} | " + " ".join(text), flush=True)


for layer, standardised, C in SOURCES:
    per_fold = {}
    for fold in folds:
        h = head_probabilities(fold, layer, standardised, C)
        per_fold[fold.name] = {m: (mixed([(ensemble[fold.name][m], 0.5), (h[m], 0.5)]), [p.mean(0) for p in h[m]])
                               for m in ("cold", "session")}
    line(f"{layer}, {'standardised' if standardised else 'as it is'}, C = {C}", per_fold)
heads = {fold.name: {key: head_probabilities(fold, *source) for key, source in MIX_SOURCES.items()} for fold in folds}
for ensemble_weight, weights in MIXES:
    per_fold = {fold.name: {m: (mixed([(ensemble[fold.name][m], ensemble_weight)]
                                      + [(heads[fold.name][k][m], w) for k, w in weights.items()]), None)
                            for m in ("cold", "session")} for fold in folds}
    line(f"mix: ensemble {ensemble_weight}, " + ", ".join(f"{MIX_SOURCES[k][0]} (C = {MIX_SOURCES[k][2]}) {w}"
                                                           for k, w in weights.items()), per_fold)
