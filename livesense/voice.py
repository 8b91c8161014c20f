"""A pretrained voice encoder beside the emotion model.

resemblyzer's GE2E speaker encoder (Apache-2.0; ``livesense/models/voice/ge2e.onnx``,
converted by ``scripts/export_ge2e.py``) was trained on thousands of speakers on
every kind of microphone. Each speech window's 2 s of audio, set to a fixed level
so the microphone's gain does not reach it, becomes a vector of voice features:
the 256-d speaker embedding, then the mean and deviation over the window of the
encoder's top LSTM layer (512), which keep more of how the voice moves than the
embedding, trained to tell speakers apart. A :class:`VoiceHead` (kept in the
model's metadata) centres them on the stream's running mean, which starts from the
training voices' mean: the same mechanism for a clip alone, a session and the
training windows (a calibration profile does not set it). Its logistic regressions
each read one block of the centred features, and their probabilities are mixed
with the emotion model's (:meth:`VoiceHead.mix`). While a stream is still judged
mostly against the training voices, each regression's logits also get its
``cold_shift``, which training measured on corpora the regression had not heard
(``training/voice.py``); it fades as the stream's own voice fills the running mean.

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
EMBEDDING_SIZE, LSTM_UNITS = 256, 256
# Columns of the voice features: the embedding, then the top layer's mean and deviation.
EMBEDDING_COLUMNS = (0, EMBEDDING_SIZE)
STATES_COLUMNS = (EMBEDDING_SIZE, EMBEDDING_SIZE + 2 * LSTM_UNITS)
VOICE_FEATURES = STATES_COLUMNS[1]


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

    def describe(self, windows: list[np.ndarray]) -> np.ndarray:
        """Voice features, float32 (len(windows), :data:`VOICE_FEATURES`), of windows of
        16 kHz audio of one length, each first scaled to :data:`ENCODER_LEVEL_DBFS` RMS
        (silent windows are left silent): columns :data:`EMBEDDING_COLUMNS` hold the
        L2-normalised embedding, :data:`STATES_COLUMNS` the top LSTM layer's mean and
        standard deviation over the window's frames."""
        frames = []
        for audio in windows:
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
            scale = 10 ** (ENCODER_LEVEL_DBFS / 20) / rms if rms > 0 else 1.0
            frames.append(audio_frames(audio.astype(np.float32) * np.float32(scale)))
        embedding, states = self.session.run(None, {"frames": np.stack(frames)})
        return np.concatenate([embedding, states], axis=1)


@dataclass
class VoiceClassifier:
    """Emotion from one block of centred voice features:
    softmax(weights @ (centred[start:stop] / scale) + bias + prior_share * cold_shift).

    ``weights``: (n_classes, stop - start); ``bias``, ``cold_shift``: (n_classes,);
    ``scale``: (stop - start,), positive (the training features' deviation, or ones);
    ``weight``: its share of the mixed log-probabilities (:meth:`VoiceHead.mix`).
    ``prior_share`` is each window's share of the training mean in the running mean
    (:meth:`RunningVoice.centre`): near 1 when a stream starts, falling towards 0.
    """

    start: int
    stop: int
    weights: np.ndarray
    bias: np.ndarray
    scale: np.ndarray
    weight: float
    cold_shift: np.ndarray

    def logits(self, centred: np.ndarray, prior_share: np.ndarray) -> np.ndarray:
        """Class logits, float64 (n, n_classes), of centred voice features (n, VOICE_FEATURES)
        whose windows' running means hold ``prior_share`` (n,) of the training mean."""
        return ((centred[:, self.start : self.stop] / self.scale) @ self.weights.T + self.bias
                + prior_share[:, None] * self.cold_shift)

    def probabilities(self, centred: np.ndarray, prior_share: np.ndarray) -> np.ndarray:
        """Class probabilities, float64 (n, n_classes); arguments as :meth:`logits`."""
        logits = self.logits(centred, prior_share)
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {"columns": [self.start, self.stop], "weights": np.round(self.weights, 6).tolist(),
                "bias": np.round(self.bias, 6).tolist(), "scale": np.round(self.scale, 6).tolist(),
                "weight": self.weight, "cold_shift": np.round(self.cold_shift, 6).tolist()}

    @classmethod
    def from_dict(cls, values: dict, n_classes: int) -> "VoiceClassifier":
        start, stop = (int(v) for v in values["columns"])
        classifier = cls(start, stop, *(np.asarray(values[key], np.float64) for key in ("weights", "bias", "scale")),
                         float(values["weight"]), np.asarray(values["cold_shift"], np.float64))
        width = stop - start
        if (not 0 <= start < stop <= VOICE_FEATURES or classifier.weights.shape != (n_classes, width)
                or classifier.bias.shape != (n_classes,) or classifier.cold_shift.shape != (n_classes,)
                or classifier.scale.shape != (width,) or not np.all(classifier.scale > 0)
                or not 0.0 < classifier.weight <= 1.0
                or not all(np.isfinite(a).all() for a in (classifier.weights, classifier.bias, classifier.scale,
                                                          classifier.cold_shift))):
            raise ValueError(f"a voice classifier is not {n_classes} x (stop - start) finite weights over columns "
                             f"within 0..{VOICE_FEATURES}, with {n_classes} finite biases and cold shifts, positive "
                             "scales and a weight in (0, 1]")
        return classifier


@dataclass
class VoiceHead:
    """Emotion from voice features: each classifier reads the features minus the
    stream's running mean (see :class:`RunningVoice`).

    ``mean``: (VOICE_FEATURES,), the training windows' mean, counted as
    ``prior_windows`` windows when a stream starts; ``classifiers``: their weights
    and the emotion model's (:attr:`model_weight`) sum to 1.
    """

    mean: np.ndarray
    prior_windows: int
    classifiers: list[VoiceClassifier]

    @property
    def model_weight(self) -> float:
        """The emotion model's share of the mixed log-probabilities."""
        return 1.0 - sum(c.weight for c in self.classifiers)

    def mix(self, model_probabilities: np.ndarray, centred: np.ndarray, prior_share: np.ndarray) -> np.ndarray:
        """The emotion model's probabilities (n, n_classes) mixed with each classifier's
        of the centred voice features (n, VOICE_FEATURES) and their prior shares (n,)
        (:meth:`RunningVoice.centre`): a weighted geometric mean, renormalised, float64
        (n, n_classes)."""
        tiny = 1e-6  # a class one side rules out still counts on the others
        mixed = self.model_weight * np.log(model_probabilities + tiny)
        for classifier in self.classifiers:
            mixed = mixed + classifier.weight * np.log(classifier.probabilities(centred, prior_share) + tiny)
        odds = np.exp(mixed - mixed.max(axis=1, keepdims=True))
        return odds / odds.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {"mean": np.round(self.mean, 6).tolist(), "prior_windows": self.prior_windows,
                "classifiers": [c.to_dict() for c in self.classifiers]}

    @classmethod
    def from_dict(cls, values: dict, n_classes: int) -> "VoiceHead":
        """Raises ValueError for values of the wrong shape or range."""
        # session 13's single head over the embedding alone; session 14's, without cold shifts
        if "classifiers" not in values or any("cold_shift" not in c for c in values["classifiers"]):
            raise ValueError("the voice head is of an older livesense; fit it again with this one "
                             "(scripts/fit_voice_head.py) and export the model")
        head = cls(np.asarray(values["mean"], np.float64), int(values["prior_windows"]),
                   [VoiceClassifier.from_dict(c, n_classes) for c in values["classifiers"]])
        if (head.mean.shape != (VOICE_FEATURES,) or not np.isfinite(head.mean).all() or head.prior_windows < 1
                or not head.classifiers or head.model_weight < -1e-9):
            raise ValueError(f"voice head has no mean of {VOICE_FEATURES} finite values, no prior of at least one "
                             "window, no classifier, or classifier weights above 1 in all")
        return head


class RunningVoice:
    """A stream's running mean of voice features, started from ``mean``
    (VOICE_FEATURES,) counted as ``prior_windows`` windows; each window is added
    before it is centred."""

    def __init__(self, mean: np.ndarray, prior_windows: int):
        self._sum = mean * prior_windows
        self._count = self._prior_windows = float(prior_windows)

    def centre(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``features`` (n, VOICE_FEATURES) in stream order, each minus the mean up to and
        including it, float64 (n, VOICE_FEATURES), and the training mean's share of each
        of those means (``prior_windows`` / windows counted), float64 (n,)."""
        out, prior_share = np.empty(features.shape, np.float64), np.empty(len(features))
        for i, row in enumerate(features):
            self._sum = self._sum + row
            self._count += 1
            out[i] = row - self._sum / self._count
            prior_share[i] = self._prior_windows / self._count
        return out, prior_share
