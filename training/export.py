"""Export a trained Keras model to ONNX with livesense metadata, checked against Keras."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

from livesense.audio import read_audio
from livesense.model import METADATA_KEY, ModelInfo

from .dataset import clip_windows

PARITY_TOLERANCE = 1e-4


class ExportError(Exception):
    """The exported graph does not reproduce the Keras model."""


def export_onnx(model: keras.Model, info: ModelInfo, path: Path, check_windows: np.ndarray) -> float:
    """Convert ``model`` to ONNX at ``path`` with ``info`` as metadata.

    Args:
        check_windows: real normalised windows (n, frames, n_features) on which
            ONNX Runtime and Keras must agree within ``PARITY_TOLERANCE``.
    Returns:
        The largest absolute difference between the two, in probability.
    Raises:
        ExportError: if they disagree; nothing is written then.
    """
    frames, n_features = model.input_shape[1:]
    signature = (tf.TensorSpec((None, frames, n_features), tf.float32, name="features"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=17)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    windows = check_windows.astype(np.float32)
    difference = float(np.abs(session.run(None, {"features": windows})[0]
                              - model.predict(windows, batch_size=256, verbose=0)).max())
    if not difference < PARITY_TOLERANCE:
        raise ExportError(f"ONNX and Keras differ by {difference:.2e} (> {PARITY_TOLERANCE}); not exported")
    if any(node.op_type == "Loop" for node in proto.graph.node):
        raise ExportError("exported graph contains Loop ops (a Masking layer?); not exported")
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return difference


def export_saved(keras_path: Path, out: Path, check_audio: list[Path]) -> float:
    """Re-export a model saved by ``train`` (``<name>.keras`` beside ``<name>.train.json``).

    The parity check runs on the speech windows of ``check_audio`` files (as the
    runtime cuts them), normalised with the model's global statistics.
    """
    from .models import load_trained

    model, info = load_trained(keras_path)
    config = info.features
    windows = [clip_windows(read_audio(path, config.sample_rate), config)[0] for path in check_audio]
    return export_onnx(model, info, out, info.global_stats.normalize(np.concatenate(windows)))
