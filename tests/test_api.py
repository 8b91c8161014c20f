"""The Python API and import hygiene."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import livesense
from livesense.audio import read_audio
from livesense.cli import main
from livesense.model import MODELS_DIR
from livesense.recognizer import FILE_BATCH

from .runtime_support import ROOT, SAMPLES


def test_import_is_light_and_cli_runs_without_tensorflow(tiny_model_path):
    code = (
        "import sys, livesense\n"
        "assert not {'onnxruntime', 'tensorflow', 'sounddevice', 'matplotlib'} & set(sys.modules), sys.modules.keys()\n"
        "from livesense.cli import main\n"
        f"assert main(['file', '--json', '--model', {str(tiny_model_path)!r}, {str(SAMPLES / 'demo.flac')!r}]) == 0\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_recognizer_analyze_file_and_stream_agree(tiny_model_path):
    recognizer = livesense.Recognizer(model=str(tiny_model_path))
    analysis = recognizer.analyze_file(SAMPLES / "demo.flac")
    assert len(analysis.windows) == 57
    assert analysis.verdict.label in recognizer.labels
    assert 10 < analysis.verdict.speech_s < analysis.verdict.duration_s
    audio = read_audio(SAMPLES / "demo.flac")
    chunks = (audio[i : i + 3000] for i in range(0, len(audio), 3000))
    assert list(recognizer.stream(chunks, batch=FILE_BATCH)) == analysis.windows


def test_recognizer_accepts_a_loaded_model_and_a_profile_object(tiny_model_path):
    from livesense.normalization import FeatureStats

    model = livesense.EmotionModel(tiny_model_path)
    n = model.features.n_features
    recognizer = livesense.Recognizer(model, profile=FeatureStats(np.zeros(n), np.ones(n), 10))
    windows = list(recognizer.stream([np.zeros(16000 * 3, np.float32)]))
    assert [w.label for w in windows] == ["silence"] * 3


def test_default_model_is_the_best_measured(tmp_path):
    """No model chosen: `ensemble`, with or without a profile (models/*.md,
    cross-corpus headline); `demo --log` records which one ran."""
    if not (MODELS_DIR / "ensemble.onnx").exists():
        pytest.skip("models/ensemble.onnx not built yet (python -m training)")
    assert livesense.Recognizer().model.info.name == "ensemble"
    profile = tmp_path / "me.json"
    assert main(["calibrate", "--file", str(SAMPLES / "demo.flac"), "-o", str(profile)]) == 0
    assert livesense.Recognizer(profile=str(profile)).model.info.name == "ensemble"
    for extra in ([], ["--profile", str(profile)]):
        log = tmp_path / f"session{len(extra)}.jsonl"
        assert main(["demo", "--json", "--speed", "40", "--duration", "3", "--log", str(log), *extra]) == 0
        assert json.loads(log.read_text().splitlines()[0])["model"] == "ensemble"
