"""Helpers for the runtime tests (engine, CLI, live sessions); their fixtures are in conftest.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from livesense.features import FeatureConfig
from livesense.model import METADATA_KEY, ModelInfo
from livesense.normalization import FeatureStats

from .conftest import DATASETS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
LABELS = ["angry", "disgust", "fear", "happy", "neutral", "sad"]


def bundled_recording() -> np.ndarray:
    """Three bundled clips of one speaker (angry, happy, sad) as one 16 kHz recording,
    each followed by 0.5 s of silence; its loudest 30 ms frame is at -13 dBFS."""
    from livesense.audio import read_audio

    pause = np.zeros(8000, np.float32)
    names = ("1058_IWL_ANG_XX", "1058_IEO_HAP_MD", "1058_TAI_SAD_XX")
    return np.concatenate([piece for name in names for piece in (read_audio(SAMPLES / f"{name}.flac"), pause)])


def build_tiny_model(path: Path, labels=LABELS, config: FeatureConfig | None = None, seed: int = 0,
                     level_prior_frames: int | None = None, voice_head=None) -> Path:
    """An untrained but valid livesense model: mean over frames -> linear -> softmax.
    Fast to build and run; for tests of the plumbing, not of accuracy."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = config or FeatureConfig()
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (config.n_features, len(labels))).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["features"], ["pooled"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", config.frames_per_window, config.n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    stats = FeatureStats(np.zeros(config.n_features), np.full(config.n_features, 10.0), 1000)
    helper.set_model_props(model, {METADATA_KEY: ModelInfo("tiny", list(labels), config, "speaker", stats,
                                                               level_prior_frames=level_prior_frames,
                                                               voice_head=voice_head).to_json()})
    onnx.save(model, str(path))
    return path


def cremad(name: str) -> Path:
    """A clip of the CREMA-D corpus beside the repository."""
    path = DATASETS / "cremad" / "AudioWAV" / f"{name}.flac"
    if not path.exists():
        pytest.skip(f"CREMA-D clip not found at {path} (set LIVESENSE_DATASETS)")
    return path
