"""The benchmark runs end to end at tiny sizes: every step works and the table is
written. Timings are not checked; bench/RESULTS.md holds a real run."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.table import FIGURES

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_writes_the_table(datasets, tmp_path):
    for package in ("tensorflow", "tf2onnx", "librosa"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} not installed; the benchmark compares against it")
    output = tmp_path / "RESULTS.md"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(output)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LIVESENSE_DATASETS": str(datasets)})
    assert done.returncode == 0, done.stderr[-2000:]
    text = output.read_text()
    assert "| figure | ensemble | target | met |" in text
    for figure in FIGURES:
        assert f"| {figure.label} | " in text, figure.key
    assert "CPU:" in text and "onnxruntime" in text
    assert text in done.stdout  # the same report is printed
