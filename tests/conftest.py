"""Shared fixtures: real CREMA-D clips, a tiny ONNX model for engine tests, the shipped model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from livesense.features import FeatureConfig
from livesense.model import METADATA_KEY, MODELS_DIR, ModelInfo
from livesense.normalization import FeatureStats

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CREMAD = ROOT.parent / "shared" / "datasets" / "cremad" / "AudioWAV"
LABELS = ["angry", "disgust", "fear", "happy", "neutral", "sad"]


def build_tiny_model(path: Path, labels=LABELS, config: FeatureConfig | None = None, seed: int = 0) -> Path:
    """An untrained but valid livesense model: mean over frames -> linear -> softmax.
    Fast to build and run; for tests of the plumbing, not of accuracy."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = config or FeatureConfig()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (config.n_features, len(labels))).astype(np.float32)
    bias = np.zeros(len(labels), np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["features"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["logits0"]),
            helper.make_node("Add", ["logits0", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", config.frames_per_window, config.n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    stats = FeatureStats(np.zeros(config.n_features), np.full(config.n_features, 10.0), 1000)
    info = ModelInfo("tiny", list(labels), config, "speaker", stats)
    helper.set_model_props(model, {METADATA_KEY: info.to_json()})
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from livesense.model import EmotionModel

    return EmotionModel(tiny_model_path)


@pytest.fixture(scope="session")
def shipped_model_name() -> str:
    """The shipped CNN (trained by training/); tests of accuracy need it."""
    if not (MODELS_DIR / "cnn.onnx").exists():
        pytest.skip("models/cnn.onnx not built yet (python -m training)")
    return "cnn"


def cremad(name: str) -> Path:
    path = CREMAD / f"{name}.flac"
    if not path.exists():
        pytest.skip(f"CREMA-D corpus not found at {CREMAD}")
    return path
