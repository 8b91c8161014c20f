"""Shared fixtures: the corpora beside the repository (``../shared/datasets``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from livesense.model import MODELS_DIR

DATASETS = Path(os.environ.get("LIVESENSE_DATASETS", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not (DATASETS / "README.md").exists():
        pytest.skip(f"corpora not found at {DATASETS} (set LIVESENSE_DATASETS to their directory)")
    return DATASETS


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A small real ONNX model with livesense metadata (random weights), for plumbing tests."""
    from .runtime_support import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from livesense.model import EmotionModel

    return EmotionModel(tiny_model_path)


@pytest.fixture(scope="session")
def shipped_model_name() -> str:
    """The shipped CNN (built by `python -m training`); tests of accuracy need it."""
    if not (MODELS_DIR / "cnn.onnx").exists():
        pytest.skip("models/cnn.onnx not built yet (python -m training)")
    return "cnn"
