"""An exported emotion model: ONNX graph plus the metadata that says how to feed it.

The metadata (JSON under the ONNX metadata key ``livesense``) is the single
source of truth for labels, feature parameters, window and hop, and the
normalisation the model expects. Shipped models live in ``livesense/models/``.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import FeatureConfig
from .normalization import FeatureStats, ProfileAdjustment
from .voice import VoiceEncoder, VoiceHead

METADATA_KEY = "livesense"
MODELS_DIR = Path(__file__).parent / "models"
# The shipped model that measures best on new voices, with and without a calibration
# profile: the mean of `cnn` and `logreg` beats each of them alone. The figures
# (cross-corpus mean UA) are in the headline of each models/<name>.md.
DEFAULT_MODEL = "ensemble"


class ModelError(Exception):
    """A model file that is missing, not ONNX, or lacks valid livesense metadata."""


@dataclass
class ModelInfo:
    """What a livesense ONNX model records about itself.

    ``normalization`` is ``"speaker"``: features are standardised by the
    speaker's statistics (a calibration profile, else running statistics that
    start from ``global_stats``, the training corpora's speech statistics).
    ``reference`` says which of a training speaker's speech gave those
    statistics: ``"all"`` of it or only ``"neutral"`` clips; for ``"all"``,
    ``profile_adjustment`` maps a neutral calibration profile onto it.
    """

    name: str
    labels: list[str]
    features: FeatureConfig
    normalization: str
    global_stats: FeatureStats
    reference: str = "neutral"
    profile_adjustment: ProfileAdjustment | None = None
    # Prior weight, in frames, of the level term (c0) in running statistics
    # (:class:`~livesense.normalization.RunningStats`); None: that of every term.
    level_prior_frames: int | None = None
    # Emotion read from the GE2E encoder's voice features, mixed with this model's (livesense.voice).
    voice_head: VoiceHead | None = None
    corpora: dict[str, str] = field(default_factory=dict)  # corpus name -> licence
    extra: dict = field(default_factory=dict)

    def speaker_stats(self, profile: FeatureStats) -> FeatureStats:
        """The statistics to normalise a calibrated speaker by, from their neutral-speech profile."""
        return self.profile_adjustment.apply(profile) if self.profile_adjustment else profile

    def to_json(self) -> str:
        return json.dumps({
            "name": self.name,
            "labels": self.labels,
            "features": self.features.to_dict(),
            "normalization": self.normalization,
            "global_stats": self.global_stats.to_dict(),
            "reference": self.reference,
            "profile_adjustment": self.profile_adjustment.to_dict() if self.profile_adjustment else None,
            "level_prior_frames": self.level_prior_frames,
            "voice_head": self.voice_head.to_dict() if self.voice_head else None,
            "corpora": self.corpora,
            "extra": self.extra,
        })

    @classmethod
    def from_json(cls, text: str) -> "ModelInfo":
        """Raises ValueError, KeyError or TypeError for metadata that is not a
        livesense model's (RecursionError for nesting deeper than the parser goes)."""
        values = json.loads(text)
        labels = values["labels"]
        # Labels name output columns and are printed: distinct, non-empty text.
        if (not isinstance(labels, list) or not labels or len(set(map(str, labels))) != len(labels)
                or not all(isinstance(label, str) and label.strip() for label in labels)):
            raise ValueError("labels must be a list of distinct, non-empty names")
        return cls(
            name=values["name"],
            labels=list(labels),
            features=FeatureConfig.from_dict(values["features"]),
            normalization=values["normalization"],
            global_stats=FeatureStats.from_dict(values["global_stats"]),
            reference=values.get("reference", "neutral"),
            profile_adjustment=(ProfileAdjustment.from_dict(values["profile_adjustment"])
                                if values.get("profile_adjustment") else None),
            level_prior_frames=_level_prior(values.get("level_prior_frames")),
            voice_head=(VoiceHead.from_dict(values["voice_head"], len(labels))
                        if values.get("voice_head") else None),
            corpora=values.get("corpora", {}),
            extra=values.get("extra", {}),
        )


def _level_prior(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
        raise ValueError(f"level_prior_frames {value!r} is not a whole number of frames from 0 to 1000000")
    return value


def resolve_model_path(model: str | Path) -> Path:
    """``"cnn"``, ``"bilstm"``, ``"logreg"``, ``"ensemble"`` name a shipped model; anything else is a file path."""
    shipped = MODELS_DIR / f"{model}.onnx"
    if isinstance(model, str) and "/" not in model and not model.endswith(".onnx"):
        if shipped.exists():
            return shipped
        names = ", ".join(sorted(p.stem for p in MODELS_DIR.glob("*.onnx")))
        raise ModelError(f"no shipped model named {model!r} (shipped: {names or 'none'}); or give a path to an .onnx file")
    return Path(model)


def _onnxruntime():
    """Import onnxruntime with the process's stderr (fd 2) muted meanwhile.

    Its native code may warn on import, e.g. "Failed to persist telemetry device
    ID" for a user without a writable home, which would break livesense's
    one-line errors. A failing import still raises as usual.
    """
    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import onnxruntime
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return onnxruntime


def cpu_session(path: Path, threads: int):
    """An ONNX Runtime session on the CPU, tuned for a background monitor: ``threads``
    intra-op threads, no busy-waiting. Raises onnxruntime's own (untyped) errors."""
    ort = _onnxruntime()  # imported here so `livesense --help` starts fast
    # Errors only: warnings such as "Failed to persist telemetry device ID" (a
    # user without a writable home) would break our one-line error contract.
    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _reason(err: Exception) -> str:
    """ONNX Runtime's first line without its error-code preamble."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    text = text.split(" : ")[-1].strip()
    return text.split(" failed:", 1)[-1].strip()[:120]


class EmotionModel:
    """ONNX Runtime session for a livesense model, tuned for a background monitor.

    Args:
        model: shipped model name (``"cnn"``, ``"bilstm"``, ``"logreg"``, ``"ensemble"``) or path to an ``.onnx`` file.
        threads: intra-op threads (default 1: a monitor should not occupy cores).
    """

    def __init__(self, model: str | Path, threads: int = 1):
        path = resolve_model_path(model)
        if not path.is_file():
            shipped = ", ".join(f"'{p.stem}'" for p in sorted(MODELS_DIR.glob("*.onnx")))
            problem = "is a directory, not a model file" if path.is_dir() else "model file not found"
            raise ModelError(f"{path}: {problem}; give a shipped model ({shipped}) or the path to a "
                             "livesense .onnx file")
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise ModelError(f"{path}: cannot read the model ({err.strerror or err}); make it readable "
                             "or choose another --model") from None
        try:
            self.session = cpu_session(path, threads)
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{path}: not a valid ONNX model ({_reason(err)}); give a model exported by "
                             "'python -m training train', or a shipped one (--model cnn)") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ModelError(f"{path}: ONNX model has no livesense metadata; export it with 'python -m training train'")
        try:
            self.info = ModelInfo.from_json(meta[METADATA_KEY])
        except RecursionError:  # brackets nested thousands deep
            raise ModelError(f"{path}: livesense metadata is invalid (nested too deep); re-export the model with "
                             "'python -m training train'") from None
        except (ValueError, KeyError, TypeError, OverflowError) as err:
            raise ModelError(f"{path}: livesense metadata is invalid ({err}); re-export the model with "
                             "'python -m training train' (or it needs a newer livesense)") from None
        self.path = path
        self._voice_encoder: VoiceEncoder | None = None
        self._input = self.session.get_inputs()[0].name
        outputs = self.session.get_outputs()[0].shape[-1]
        if outputs != len(self.info.labels):
            raise ModelError(f"{path}: metadata lists {len(self.info.labels)} labels but the model outputs {outputs} "
                             "classes; re-export it with 'python -m training train'")
        cfg, stats = self.info.features, self.info.global_stats
        expected = [cfg.frames_per_window, cfg.n_features]
        if self.session.get_inputs()[0].shape[1:] != expected:
            raise ModelError(f"{path}: metadata describes windows of {expected[0]} x {expected[1]} features but the "
                             f"model takes {self.session.get_inputs()[0].shape[1:]}; re-export it with "
                             "'python -m training train'")
        if stats.mean.shape != (cfg.n_features,) or stats.std.shape != (cfg.n_features,):
            raise ModelError(f"{path}: livesense metadata is invalid (global statistics are not {cfg.n_features} "
                             "means and deviations); re-export the model with 'python -m training train'")

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @property
    def features(self) -> FeatureConfig:
        return self.info.features

    @property
    def voice_encoder(self) -> VoiceEncoder:
        """The GE2E encoder for :attr:`ModelInfo.voice_head`, loaded on first use, once per model."""
        if self._voice_encoder is None:
            self._voice_encoder = VoiceEncoder()
        return self._voice_encoder

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities for normalised feature windows.

        Args:
            windows: float32, shape (batch, frames_per_window, n_features).
        Returns:
            float32, shape (batch, len(labels)); rows sum to 1.
        """
        return self.session.run(None, {self._input: windows.astype(np.float32, copy=False)})[0]
