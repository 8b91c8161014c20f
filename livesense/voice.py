"""A pretrained voice encoder beside the emotion model.

resemblyzer's GE2E speaker encoder (Apache-2.0; ``livesense/models/voice/ge2e.onnx``,
converted by ``scripts/export_ge2e.py``) was trained on thousands of speakers on
every kind of microphone. Each speech window's 2 s of audio, set to a fixed level
so the microphone's gain does not reach it, becomes a 256-d embedding. A
:class:`VoiceHead` (a logistic regression fitted in training, kept in the model's
metadata) reads emotion from the embedding minus the stream's running mean
embedding, which starts from the training voices' mean: the same mechanism for a
clip alone, a session and the training windows (a calibration profile does not
set it). Its probabilities are mixed with the emotion model's (:func:`fuse`).

Cost: about 6.4 ms per window in groups of 8, 11 ms one at a time (one core),
several times the emotion model's; models without a head do not load the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_PATH = Path(__file__).parent / "models" / "voice" / "ge2e.onnx"
# The encoder's frames: 25 ms every 10 ms at 16 kHz (the graph windows them and
# takes the mel spectrum itself).
FRAME_SAMPLES, FRAME_HOP = 400, 160
# resemblyzer feeds the encoder audio at this RMS level; it is not level-invariant.
ENCODER_LEVEL_DBFS = -30.0
EMBEDDING_SIZE = 256


def audio_frames(audio: np.ndarray) -> np.ndarray:
    """The encoder's input for ``audio`` (float32 (n,) at 16 kHz): frames centred on
    every 10 ms, zero-padded at both ends, shape (1 + n // 160, 400)."""
    padded = np.pad(audio, FRAME_SAMPLES // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, FRAME_SAMPLES)[::FRAME_HOP]
    return frames[: 1 + len(audio) // FRAME_HOP]


class VoiceEncoder:
    """The GE2E encoder in ONNX Runtime (one thread, like :class:`~livesense.model.EmotionModel`)."""

    def __init__(self, path: Path = ENCODER_PATH, threads: int = 1):
        from .model import ModelError, cpu_session  # here: model.py imports this module

        try:
            self.session = cpu_session(path, threads)
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{path}: cannot load the voice encoder ({str(err).splitlines()[0][:120]}); "
                             "reinstall livesense") from None

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """Embeddings, float32 (len(windows), 256), L2-normalised, of windows of
        16 kHz audio of one length, each first scaled to :data:`ENCODER_LEVEL_DBFS`
        RMS (silent windows are left silent)."""
        frames = []
        for audio in windows:
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
            scale = 10 ** (ENCODER_LEVEL_DBFS / 20) / rms if rms > 0 else 1.0
            frames.append(audio_frames(audio.astype(np.float32) * np.float32(scale)))
        return self.session.run(None, {"frames": np.stack(frames)})[0]


@dataclass
class VoiceHead:
    """Emotion from a voice embedding: softmax(weights @ (e - m) + bias), where m is
    the stream's running mean embedding (see :class:`RunningVoice`).

    ``weights``: (n_classes, 256); ``bias``: (n_classes,); ``mean``: (256,), the
    training windows' mean embedding, counted as ``prior_windows`` windows when a
    stream starts; ``model_weight``: the emotion model's share in :func:`fuse`.
    """

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    prior_windows: int
    model_weight: float

    def probabilities(self, centred: np.ndarray) -> np.ndarray:
        """Class probabilities, float64 (n, n_classes), of centred embeddings (n, 256)."""
        logits = centred.astype(np.float64) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {"weights": np.round(self.weights, 6).tolist(), "bias": np.round(self.bias, 6).tolist(),
                "mean": np.round(self.mean, 6).tolist(), "prior_windows": self.prior_windows,
                "model_weight": self.model_weight}

    @classmethod
    def from_dict(cls, values: dict, n_classes: int) -> "VoiceHead":
        """Raises ValueError for values of the wrong shape or range."""
        head = cls(np.asarray(values["weights"], np.float64), np.asarray(values["bias"], np.float64),
                   np.asarray(values["mean"], np.float64), int(values["prior_windows"]),
                   float(values["model_weight"]))
        if (head.weights.shape != (n_classes, EMBEDDING_SIZE) or head.bias.shape != (n_classes,)
                or head.mean.shape != (EMBEDDING_SIZE,) or head.prior_windows < 1
                or not 0.0 <= head.model_weight <= 1.0
                or not all(np.isfinite(a).all() for a in (head.weights, head.bias, head.mean))):
            raise ValueError(f"voice head is not {n_classes} x {EMBEDDING_SIZE} finite weights with a mean, "
                             "a prior of at least one window and a model weight in [0, 1]")
        return head


class RunningVoice:
    """A stream's running mean embedding, started from ``mean`` (256,) counted as
    ``prior_windows`` windows; each window is added before it is centred."""

    def __init__(self, mean: np.ndarray, prior_windows: int):
        self._sum = mean * prior_windows
        self._count = float(prior_windows)

    def centre(self, embeddings: np.ndarray) -> np.ndarray:
        """``embeddings`` (n, 256) in stream order, each minus the mean up to and including it."""
        out = np.empty(embeddings.shape, np.float64)
        for i, embedding in enumerate(embeddings):
            self._sum = self._sum + embedding
            self._count += 1
            out[i] = embedding - self._sum / self._count
        return out


def fuse(model_probabilities: np.ndarray, voice_probabilities: np.ndarray, model_weight: float) -> np.ndarray:
    """Weighted geometric mean of two rows of class probabilities (n, n_classes),
    renormalised: ``model_weight`` on the emotion model's, the rest on the head's."""
    tiny = 1e-6  # a class one side rules out still counts on the other
    mixed = np.exp(model_weight * np.log(model_probabilities + tiny)
                   + (1.0 - model_weight) * np.log(voice_probabilities + tiny))
    return mixed / mixed.sum(axis=1, keepdims=True)
