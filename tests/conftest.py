"""Shared fixtures: the corpora beside the repository (``../shared/datasets``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATASETS = Path(os.environ.get("LIVESENSE_DATASETS", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not (DATASETS / "README.md").exists():
        pytest.skip(f"corpora not found at {DATASETS} (set LIVESENSE_DATASETS to their directory)")
    return DATASETS
