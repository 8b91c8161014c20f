"""`livesense calibrate --file` and using its profile; bad profiles; calibrating
from the Python API (a file, the microphone)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from livesense.audio import read_audio
from livesense.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main

from .runtime_support import ROOT, SAMPLES, cremad
from .test_listen_mic import communicate, pulse  # noqa: F401 (pulse: a fixture)
from .test_listen_mic import pytestmark as needs_pulse


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


def test_calibrate_refuses_noise(tmp_path, capsys, tiny_model_path):
    """White noise passes WebRTC VAD as speech, but has no voiced frames."""
    noise = tmp_path / "hiss.wav"
    sf.write(str(noise), np.random.default_rng(0).normal(0, 0.05, 16000 * 25).astype(np.float32), 16000)
    assert main(["calibrate", "--file", str(noise), "--model", str(tiny_model_path), "-o", str(tmp_path / "p.json")]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "noise, not a voice" in err and err.count("\n") == 1
    assert not (tmp_path / "p.json").exists()


def _calibrate_demo(tiny_model_path, profile) -> int:
    return main(["calibrate", "--file", str(SAMPLES / "demo.flac"), "--model", str(tiny_model_path), "-o", str(profile)])


def test_bad_profiles_exit_2(tmp_path, capsys, tiny_model_path):
    good = tmp_path / "good.json"
    assert _calibrate_demo(tiny_model_path, good) == EXIT_OK
    payload = json.loads(good.read_text())
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "nan.json").write_text(json.dumps(payload).replace(str(payload["stats"]["mean"][0]), "NaN", 1))
    (tmp_path / "text_stats.json").write_text(json.dumps({**payload, "stats": {**payload["stats"], "std": "x"}}))
    (tmp_path / "no_features.json").write_text(json.dumps({k: v for k, v in payload.items() if k != "features"}))
    (tmp_path / "bad_features.json").write_text(json.dumps({**payload, "features": "x"}))
    (tmp_path / "huge.json").write_text(json.dumps({**payload, "stats": {**payload["stats"], "n_frames": float("inf")}}))
    profiles = [tmp_path / name for name in ("absent.json", "junk.json", "list.json", "nan.json", "text_stats.json",
                                             "no_features.json", "bad_features.json", "huge.json")]
    for profile in profiles:
        code = main(["file", "--model", str(tiny_model_path), "--profile", str(profile), str(SAMPLES / "1058_IWL_ANG_XX.flac")])
        err = capsys.readouterr().err
        assert code == EXIT_USAGE and "livesense calibrate" in err and err.count("\n") == 1


def test_profiles_no_voice_has_are_refused(tmp_path, capsys, tiny_model_path):
    """Finite values a profile of these features cannot hold: a mean of 1e300
    (NaN probabilities and bare NaN in the JSON before), every std 0 (every frame
    extreme: one class at 100%), a std larger than the feature's range, voicing
    outside 0..1; and brackets nested too deep for the parser."""
    good = tmp_path / "good.json"
    assert _calibrate_demo(tiny_model_path, good) == EXIT_OK
    capsys.readouterr()
    payload = json.loads(good.read_text())
    stats = payload["stats"]
    voicing = len(stats["mean"]) - 2
    cases = {
        "huge_mean": {**stats, "mean": [1e300] * len(stats["mean"])},
        "zero_std": {**stats, "std": [0.0] * len(stats["std"])},
        "huge_std": {**stats, "std": [1e300] * len(stats["std"])},
        "voicing_above_1": {**stats, "mean": stats["mean"][:voicing] + [2.0] + stats["mean"][voicing + 1:]},
    }
    for name, bad_stats in cases.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({**payload, "stats": bad_stats}))
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    for name in [*cases, "nested"]:
        code = main(["file", "--json", "--model", str(tiny_model_path), "--profile", str(tmp_path / f"{name}.json"),
                     str(SAMPLES / "1058_IWL_ANG_XX.flac")])
        out, err = capsys.readouterr()
        assert code == EXIT_USAGE and out == "", (name, out)
        assert err.count("\n") == 1 and "livesense calibrate" in err, (name, err)
    assert main(["file", "--json", "--model", str(tiny_model_path), "--profile", str(good),
                 str(SAMPLES / "1058_IWL_ANG_XX.flac")]) == EXIT_OK
    for line in capsys.readouterr().out.splitlines():  # strict JSON: no bare NaN or Infinity
        json.loads(line, parse_constant=lambda constant: pytest.fail(f"{constant} in {line}"))


def test_a_failed_profile_write_keeps_the_old_profile(tmp_path, capsys, tiny_model_path):
    """The profile is written beside the target and renamed over it: a write that
    fails (here: a 1 KiB file size limit) leaves the previous profile whole."""
    profile = tmp_path / "me.json"
    assert _calibrate_demo(tiny_model_path, profile) == EXIT_OK
    before = profile.read_text()
    assert len(before) > 1024
    result = subprocess.run(["bash", "-c", 'ulimit -f 1; exec "$0" -m livesense calibrate --file "$1" --model "$2" -o "$3"',
                             sys.executable, str(SAMPLES / "demo.flac"), str(tiny_model_path), str(profile)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_USAGE and "cannot write the profile" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert profile.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["me.json"]


def test_a_profile_with_pitch_serves_a_model_without_it(tmp_path):
    """Pitch columns come last: a model without pitch (one exported before it
    existed) reads the MFCC part of a profile made with pitch; the reverse lacks
    the pitch statistics and is refused."""
    from dataclasses import replace

    from livesense.features import FeatureConfig
    from livesense.normalization import FeatureStats, ProfileError, load_profile, save_profile

    with_pitch = FeatureConfig(pitch=True)
    without = replace(with_pitch, pitch=False)
    mean, std = np.arange(with_pitch.n_features, dtype=float), np.ones(with_pitch.n_features)
    mean[-2:], std[-2:] = (0.5, 5.0), (0.3, 0.3)  # voicing strength and log F0 as a voice has them
    stats = FeatureStats(mean, std, 1000)
    save_profile(tmp_path / "pitch.json", stats, with_pitch, 25.0)
    loaded = load_profile(tmp_path / "pitch.json", without)
    assert np.array_equal(loaded.mean, stats.mean[: without.n_features]) and loaded.n_frames == 1000
    save_profile(tmp_path / "mfcc.json", FeatureStats(stats.mean[: without.n_features], stats.std[: without.n_features],
                                                      1000), without, 25.0)
    with pytest.raises(ProfileError, match="different features"):
        load_profile(tmp_path / "mfcc.json", with_pitch)
    with pytest.raises(ProfileError, match="different features"):
        load_profile(tmp_path / "pitch.json", replace(with_pitch, n_mfcc=13))


def test_calibrating_with_a_model_without_pitch_serves_both_kinds(tmp_path, capsys, tiny_model_path):
    """calibrate always measures pitch: a profile made with a model exported before
    pitch existed also serves the pitch models, and the other way round."""
    from dataclasses import replace

    from livesense.features import FeatureConfig

    from .runtime_support import build_tiny_model

    mfcc_only = build_tiny_model(tmp_path / "mfcc.onnx", config=replace(FeatureConfig(), pitch=False))
    for maker in (mfcc_only, tiny_model_path):
        profile = tmp_path / f"{maker.stem}.json"
        assert _calibrate_demo(maker, profile) == EXIT_OK
        for user in (mfcc_only, tiny_model_path):
            assert main(["file", "--json", "--model", str(user), "--profile", str(profile),
                         str(SAMPLES / "1058_IWL_ANG_XX.flac")]) == EXIT_OK
            assert '"type": "verdict"' in capsys.readouterr().out


# ---------------------------------------------------------------- the Python API


def _actor_1058(tmp_path):
    """All twelve CREMA-D clips of actor 1058 in one file: 30 s of one voice."""
    clips = sorted(cremad("1058_DFA_DIS_XX").parent.glob("1058_*.flac"))
    assert len(clips) == 12
    path = tmp_path / "actor_1058.flac"
    sf.write(str(path), np.concatenate([read_audio(clip) for clip in clips]), 16000)
    return path


def test_the_api_makes_the_profile_the_cli_writes(tmp_path, capsys, tiny_model_path):
    """Recognizer.calibrate and `livesense calibrate` read the same seconds and
    write the same profile, byte for byte; the result says what was measured."""
    import livesense
    from livesense.normalization import load_profile

    take = _actor_1058(tmp_path)
    recognizer = livesense.Recognizer(str(tiny_model_path))
    for seconds in (25.0, 12.0):
        written = tmp_path / f"cli_{seconds:g}.json"
        assert main(["calibrate", "--file", str(take), "--seconds", f"{seconds:g}", "--model", str(tiny_model_path),
                     "-o", str(written)]) == EXIT_OK
        out = capsys.readouterr().out
        calibration = recognizer.calibrate(take, seconds=seconds)
        assert f"({calibration.speech_s:.1f} s of speech, {calibration.n_frames} frames)" in out
        calibration.save(tmp_path / "api.json")
        assert (tmp_path / "api.json").read_bytes() == written.read_bytes()
        assert calibration.features.pitch and calibration.features.n_mfcc == recognizer.model.features.n_mfcc
        assert 5 < calibration.speech_s < seconds and calibration.n_frames == json.loads(written.read_text())["stats"]["n_frames"]
        loaded = load_profile(written, recognizer.model.features)
        assert np.allclose(loaded.mean, calibration.stats.mean[: len(loaded.mean)])
    # Less audio, less speech: the 12 s take is not the 25 s one.
    assert json.loads(written.read_text())["speech_seconds"] < json.loads((tmp_path / "cli_25.json").read_text())["speech_seconds"]


def test_the_api_refuses_silence_and_noise_with_the_cli_message(tmp_path, capsys, tiny_model_path):
    """CalibrationError carries the very line the CLI prints; nothing is written."""
    import livesense

    takes = {"silence.wav": np.zeros(16000 * 25, np.float32),
             "hiss.wav": np.random.default_rng(0).normal(0, 0.05, 16000 * 25).astype(np.float32)}
    recognizer = livesense.Recognizer(str(tiny_model_path))
    for name, audio in takes.items():
        sf.write(str(tmp_path / name), audio, 16000)
        with pytest.raises(livesense.CalibrationError) as raised:
            recognizer.calibrate(tmp_path / name)
        assert main(["calibrate", "--file", str(tmp_path / name), "--model", str(tiny_model_path),
                     "-o", str(tmp_path / "p.json")]) == EXIT_INPUT
        assert capsys.readouterr().err == f"livesense: {raised.value}\n"
        assert ("noise, not a voice" if name == "hiss.wav" else "only 0.0 s of speech") in str(raised.value)
    assert not (tmp_path / "p.json").exists()


@needs_pulse
def test_the_api_records_from_the_microphone(pulse, tiny_model_path, tmp_path):
    """Recognizer.calibrate() without a file records from the default input
    (PulseAudio's pipe source here), reporting progress; 2 s of silence are
    refused, 12 s of speech make a profile."""
    server, feeder = pulse
    code = (
        "import sys, livesense\n"
        f"recognizer = livesense.Recognizer({str(tiny_model_path)!r})\n"
        "try:\n"
        "    recognizer.calibrate(seconds=2)\n"
        "except livesense.CalibrationError as err:\n"
        "    print(err, flush=True)\n"
        "seen = []\n"
        "calibration = recognizer.calibrate(seconds=12, progress=lambda name, s: seen.append((name, s)))\n"
        f"calibration.save({str(tmp_path / 'me.json')!r})\n"
        "print(calibration.speech_s, len({name for name, _ in seen}), [s for _, s in seen] == sorted(s for _, s in seen),"
        " seen[0][1], seen[-1][1])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=server.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    refused = proc.stdout.readline()
    speech = [read_audio(SAMPLES / f"{name}.flac") for name in ("1058_IWL_ANG_XX", "1058_TAI_SAD_XX", "1058_IEO_HAP_MD")]
    feeder.play(np.concatenate(speech * 2))  # 17 s: whenever capture starts, it hears 12 s of speech
    out, err = communicate(proc, 60)
    assert proc.returncode == 0, err
    assert refused == "only 0.0 s of speech heard in 2.0 s from the microphone; at least 5 s are needed: " \
                      "speak in your normal voice and try again\n"
    speech_s, names, ordered, first, last = out.split()
    assert float(speech_s) >= 5 and names == "1" and ordered == "True" and (first, last) == ("0.0", "12.0")
    assert json.loads((tmp_path / "me.json").read_text())["speech_seconds"] == round(float(speech_s), 2)
