"""livesense: real-time speech emotion monitor.

``import livesense`` is cheap: the names below are imported on first use, and
ONNX Runtime only when a model is loaded.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Recognizer": ".recognizer",
    "FileAnalysis": ".recognizer",
    "Calibration": ".calibration",
    "CalibrationError": ".calibration",
    "StreamEngine": ".engine",
    "WindowResult": ".engine",
    "EmotionModel": ".model",
    "ModelError": ".model",
    "AudioError": ".audio",
    "ProfileError": ".normalization",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'livesense' has no attribute {name!r}")
