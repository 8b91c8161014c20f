"""The models the benchmark runs: each architecture as ONNX (livesense) and Keras (the
path it replaces).

The trainer writes ``models/<arch>.onnx`` and ``models/<arch>.keras`` side by
side; those are used when both exist and load (each with the features its
metadata names, as the runtime runs it). Otherwise the same architecture is
built from ``training/models.py`` with random weights and exported the way the
trainer exports: speed does not depend on the weights, only on the graph. Built
models are cached under ``runs/bench/`` keyed by architecture (and the source
of training/models.py), feature parameters and converter versions, so repeated
runs skip TensorFlow's export.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from livesense.features import FeatureConfig
from livesense.model import MODELS_DIR, EmotionModel, ModelError, ModelInfo
from livesense.normalization import FeatureStats

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "runs" / "bench" / "models"
LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad")


@dataclass(frozen=True)
class BenchModel:
    arch: str
    onnx: Path
    keras: Path
    trained: bool  # False: random weights from training/models.py


@cache
def tensorflow_one_thread() -> None:
    """Import TensorFlow set to one thread (as livesense's ONNX session). It takes
    thread settings only before its first use, so every use here comes through this."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _trained(arch: str) -> BenchModel | None:
    onnx_path, keras_path = MODELS_DIR / f"{arch}.onnx", MODELS_DIR / f"{arch}.keras"
    if not (onnx_path.is_file() and keras_path.is_file()):
        return None
    try:
        EmotionModel(onnx_path)
    except ModelError:  # metadata this livesense cannot read
        return None
    return BenchModel(arch, onnx_path, keras_path, trained=True)


def _build(arch: str, config: FeatureConfig) -> BenchModel:
    # Package versions from metadata: importing TensorFlow takes seconds, needed only to build.
    key = json.dumps([arch, config.to_dict(), version("tensorflow-cpu"), version("keras"), version("tf2onnx"),
                      (ROOT / "training" / "models.py").read_text()])
    folder = CACHE / f"{arch}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    result = BenchModel(arch, folder / f"{arch}.onnx", folder / f"{arch}.keras", trained=False)
    if result.onnx.is_file() and result.keras.is_file():
        return result
    tensorflow_one_thread()
    from training.export import export_onnx
    from training.models import BUILDERS

    keras_model = BUILDERS[arch](config.frames_per_window, config.n_features, len(LABELS))
    n = config.n_features
    info = ModelInfo(f"{arch} (random weights)", list(LABELS), config, "speaker",
                     FeatureStats(np.zeros(n), np.ones(n), 1000))
    check = np.random.default_rng(0).normal(size=(8, config.frames_per_window, n)).astype(np.float32)
    # Built in a scratch folder renamed into place at the end, so that a run
    # interrupted midway leaves no half-written model for the next one to trust.
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    export_onnx(keras_model, info, partial / result.onnx.name, check)
    keras_model.save(partial / result.keras.name)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return result


def bench_models(archs: list[str], config: FeatureConfig | None = None) -> dict[str, BenchModel]:
    """ONNX and Keras files for each of ``archs`` (``"cnn"``, ``"bilstm"``): the shipped
    model, else one with random weights built for ``config`` (default: the current features)."""
    config = config or FeatureConfig()
    return {arch: _trained(arch) or _build(arch, config) for arch in archs}
