"""JSON never holds NaN or Infinity (issue 16): a value JSON cannot hold is a
one-line error (exit 2), never a bare `NaN` in the output or the log."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from livesense.cli import EXIT_USAGE, main
from livesense.session_log import LogReader, SessionLog
from livesense.writing import NotFiniteError, json_line

from .runtime_support import SAMPLES, build_tiny_model


def strict(line: str):
    """``line`` parsed as JSON that a strict reader accepts (no NaN, no Infinity)."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory) -> Path:
    """A model whose every speech window gets NaN probabilities (one NaN weight)."""
    import onnx
    from onnx import numpy_helper

    path = build_tiny_model(tmp_path_factory.mktemp("model") / "nan.onnx")
    model = onnx.load(str(path))
    weights = numpy_helper.to_array(model.graph.initializer[0]).copy()
    weights[0, 0] = np.nan
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(weights, "W"))
    onnx.save(model, str(path))
    return path


def test_json_line_names_the_field_that_is_not_finite():
    assert json_line({"a": 1.5, "b": None}, "x") == '{"a": 1.5, "b": null}\n'
    assert json_line({"a": [1, 2]}, "x", compact=True) == '{"a":[1,2]}\n'
    with pytest.raises(NotFiniteError, match=r"^x.wav: window 0-2 s: raw_probabilities\.sad is nan, which JSON cannot "
                                             r"hold, so it is not written; check the model"):
        json_line({"raw_probabilities": {"angry": 0.5, "sad": float("nan")}}, "x.wav: window 0-2 s")
    with pytest.raises(NotFiniteError, match=r"^y: seconds\[1\] is -inf"):
        json_line({"seconds": [1.0, float("-inf")]}, "y")


def test_a_session_log_refuses_a_non_finite_record_and_keeps_its_lines_valid(tmp_path):
    log = SessionLog(tmp_path / "s.jsonl")
    assert log.write({"type": "window", "start": 0.0})
    with pytest.raises(NotFiniteError, match="window record: confidence is inf"):
        log.write({"type": "window", "confidence": float("inf")})
    assert log.write({"type": "end"})
    log.close()
    assert [strict(line)["type"] for line in (tmp_path / "s.jsonl").read_text().splitlines()] == ["window", "end"]


def test_file_json_with_nan_probabilities_is_a_one_line_error_not_invalid_json(capsys, nan_model):
    code = main(["file", "--json", "--model", str(nan_model), str(SAMPLES / "demo.flac")])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith(f"livesense: {SAMPLES / 'demo.flac'}: window ")
    assert "is nan, which JSON cannot hold" in err
    # Only silence (no probabilities) can come before the first speech window fails.
    assert all(not strict(line)["speech"] for line in out.splitlines())


def test_a_live_session_with_nan_probabilities_ends_with_a_valid_log(tmp_path, capsys, nan_model):
    log = tmp_path / "s.jsonl"
    code = main(["demo", "--json", "--speed", "40", "--model", str(nan_model), "--log", str(log)])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE and err.splitlines()[-1].startswith(f"livesense: log {log}: window record: ")
    assert "Traceback" not in err and "session summary" in err
    records = [strict(line) for line in log.read_text().splitlines()]
    assert records[0]["type"] == "session" and records[-1]["type"] == "end"
    assert [strict(line) for line in out.splitlines()] == records[1:-1]
    assert list(LogReader(log))  # and `report` can read it


@pytest.mark.parametrize("form", [[], ["--csv"]])
def test_tables_and_csv_refuse_nan_probabilities_as_json_does(capsys, nan_model, form):
    """No "nan%" in a table or "nan" in a CSV: the same one-line error (exit 2) as JSON."""
    code = main(["file", *form, "--model", str(nan_model), str(SAMPLES / "demo.flac")])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE and err.count("\n") == 1 and "is nan, which no output can show" in err
    assert "nan" not in out.lower()
