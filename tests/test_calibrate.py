"""`livesense calibrate --file` and using its profile; bad profiles."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from livesense.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main

from .runtime_support import SAMPLES


def test_calibrate_from_a_file_then_use_the_profile(tmp_path, capsys, tiny_model_path):
    profile = tmp_path / "me.json"
    assert main(["calibrate", "--file", str(SAMPLES / "demo.flac"), "--model", str(tiny_model_path),
                 "-o", str(profile)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"profile written to {profile}" in out
    saved = json.loads(profile.read_text())
    assert 5 < saved["speech_seconds"] < 25  # VAD speech only, not the pauses
    assert main(["file", "--json", "--model", str(tiny_model_path), "--profile", str(profile),
                 str(SAMPLES / "1058_IWL_ANG_XX.flac")]) == EXIT_OK
    assert '"type": "verdict"' in capsys.readouterr().out


def test_calibrate_needs_speech(tmp_path, capsys, tiny_model_path):
    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(16000 * 25, np.float32), 16000)
    assert main(["calibrate", "--file", str(silent), "--model", str(tiny_model_path), "-o", str(tmp_path / "p.json")]) == EXIT_INPUT
    assert "only 0.0 s of speech" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_bad_profiles_exit_2(tmp_path, capsys, tiny_model_path):
    (tmp_path / "junk.json").write_text("{not json")
    for profile in (tmp_path / "absent.json", tmp_path / "junk.json"):
        code = main(["file", "--model", str(tiny_model_path), "--profile", str(profile), str(SAMPLES / "1058_IWL_ANG_XX.flac")])
        err = capsys.readouterr().err
        assert code == EXIT_USAGE and "livesense calibrate" in err and err.count("\n") == 1
