"""`livesense file` on real clips in every format, rate and channel count; bad files."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from livesense.audio import read_audio
from livesense.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main

from .runtime_support import SAMPLES, cremad

ANGRY = SAMPLES / "1058_IWL_ANG_XX.flac"

# (extension, libsndfile subtype, rate in Hz, channels)
FORMATS = [
    ("wav", "PCM_16", 8000, 1),
    ("wav", "PCM_24", 44100, 2),
    ("wav", "FLOAT", 48000, 1),
    ("wav", "PCM_U8", 16000, 1),
    ("wav", "ULAW", 8000, 1),
    ("flac", "PCM_16", 24000, 2),
    ("flac", "PCM_24", 48000, 1),
    ("ogg", "VORBIS", 44100, 1),
    ("ogg", "VORBIS", 16000, 2),
    ("aiff", "PCM_16", 44100, 2),
    ("aiff", "PCM_16", 22050, 1),
    ("wav", "PCM_16", 192000, 8),
    ("wav", "PCM_32", 96000, 6),
    ("mp3", "MPEG_LAYER_III", 44100, 2),
    ("opus", "OPUS", 48000, 1),
]


def write_clip(path, rate, channels, subtype, source=ANGRY):
    audio = read_audio(source)
    if rate != 16000:
        audio = soxr.resample(audio, 16000, rate)
    if channels > 1:
        # Different but same-content channels, so a wrong downmix would show.
        audio = np.stack([audio * (1 - 0.1 * c) for c in range(channels)], axis=1)
    sf.write(str(path), audio, rate, subtype=subtype, format="OGG" if path.suffix == ".opus" else None)
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_every_format_rate_and_channel_count(tmp_path, capsys, tiny_model_path):
    paths = [write_clip(tmp_path / f"clip_{i}_{rate}_{ch}ch.{ext}", rate, ch, subtype)
             for i, (ext, subtype, rate, ch) in enumerate(FORMATS)]
    code, out, err = run_cli(capsys, "file", "--json", "--model", str(tiny_model_path), *map(str, paths))
    assert code == EXIT_OK, err
    records = lines(out)
    verdicts = {r["file"]: r for r in records if r["type"] == "verdict"}
    assert set(verdicts) == {str(p) for p in paths}
    for path in paths:
        windows = [r for r in records if r["type"] == "window" and r["file"] == str(path)]
        # 3.07 s clip, 2 s windows, 0.5 s hop: windows at 0, 0.5, 1.0.
        assert [w["start"] for w in windows] == [0.0, 0.5, 1.0], path
        assert any(w["speech"] for w in windows), path
        assert verdicts[str(path)]["label"] in ("angry", "disgust", "fear", "happy", "neutral", "sad")


def test_resampled_and_reencoded_files_agree_with_the_original(tmp_path, capsys, tiny_model_path):
    paths = [ANGRY, write_clip(tmp_path / "a.wav", 48000, 2, "PCM_16"), write_clip(tmp_path / "b.flac", 44100, 1, "PCM_24")]
    code, out, _ = run_cli(capsys, "file", "--json", "--model", str(tiny_model_path), *map(str, paths))
    assert code == EXIT_OK
    raw = {}
    for r in lines(out):
        if r["type"] == "window" and r["speech"]:
            raw.setdefault(r["file"], []).append(r["raw_probabilities"])
    reference = raw[str(ANGRY)]
    for path in paths[1:]:
        for got, want in zip(raw[str(path)], reference, strict=True):
            assert max(abs(got[k] - want[k]) for k in want) < 0.05


def test_shipped_model_recognises_an_angry_clip(tmp_path, capsys, shipped_model_name):
    clip = write_clip(tmp_path / "angry.ogg", 44100, 2, "VORBIS", cremad("1058_IWL_ANG_XX"))
    code, out, _ = run_cli(capsys, "file", "--json", "--model", shipped_model_name, str(clip))
    assert code == EXIT_OK
    verdict = [r for r in lines(out) if r["type"] == "verdict"][0]
    windows = [r for r in lines(out) if r["type"] == "window" and r["speech"]]
    mean = {k: np.mean([w["raw_probabilities"][k] for w in windows]) for k in windows[0]["raw_probabilities"]}
    assert "angry" in sorted(mean, key=mean.get)[-2:]
    # The verdict is the class of highest mean raw probability (see livesense/summary.py).
    assert verdict["label"] == max(mean, key=mean.get)
    assert verdict["confidence"] == pytest.approx(mean[verdict["label"]], abs=2e-4)


def test_csv_and_table_outputs(tmp_path, capsys, tiny_model_path):
    code, out, _ = run_cli(capsys, "file", "--csv", "--model", str(tiny_model_path), str(ANGRY))
    assert code == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["kind"] for r in rows] == ["window"] * 3 + ["verdict"]
    assert abs(sum(float(rows[0][f"raw_{k}"]) for k in ("angry", "disgust", "fear", "happy", "neutral", "sad")) - 1) < 1e-3
    code, out, _ = run_cli(capsys, "file", "--model", str(tiny_model_path), str(SAMPLES))
    assert code == EXIT_OK
    assert "demo.flac" in out and "silence" in out and "verdict:" in out


def test_wrong_extension_analysed_and_truncated_data_analysed_as_far_as_it_goes(tmp_path, capsys, tiny_model_path):
    flac_named_wav = tmp_path / "really_flac.wav"
    flac_named_wav.write_bytes(ANGRY.read_bytes())
    cut = write_clip(tmp_path / "cut.wav", 16000, 1, "PCM_16")
    cut.write_bytes(cut.read_bytes()[: 44 + 2 * 40000])  # header promises 3.07 s, data holds 2.5 s
    code, out, err = run_cli(capsys, "file", "--json", "--model", str(tiny_model_path), str(flac_named_wav), str(cut))
    assert code == EXIT_INPUT and "truncated: it holds 2.5 s of the 3.1 s its header announces" in err, err
    starts = {}
    for r in lines(out):
        if r["type"] == "window":
            starts.setdefault(r["file"], []).append(r["start"])
    assert starts == {str(flac_named_wav): [0.0, 0.5, 1.0], str(cut): [0.0, 0.5]}


def test_long_file_runs_in_constant_memory(tmp_path, tiny_model_path):
    """Peak memory while streaming does not grow with the recording's length."""
    import tracemalloc

    from livesense.recognizer import Recognizer

    recognizer = Recognizer(str(tiny_model_path))
    clip = read_audio(ANGRY)
    peaks = []
    for minutes in (1, 3):
        path = tmp_path / f"{minutes}min.wav"
        with sf.SoundFile(str(path), "w", 16000, 1, "PCM_16") as f:
            for _ in range(minutes * 3):  # every 20 s: speech, then silence
                f.write(clip)
                f.write(np.zeros(16000 * 20 - len(clip), np.float32))
        tracemalloc.start()
        windows = sum(1 for _ in recognizer.stream_file(path))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert windows == 1 + (minutes * 60 - 2) * 2
    assert peaks[1] < 1.3 * peaks[0] and peaks[1] < 20 * 2**20


def test_short_clip_is_one_padded_window(tmp_path, capsys, tiny_model_path):
    audio = read_audio(ANGRY)[:12000]
    sf.write(str(tmp_path / "short.wav"), audio, 16000)
    code, out, _ = run_cli(capsys, "file", "--json", "--model", str(tiny_model_path), str(tmp_path / "short.wav"))
    assert code == EXIT_OK
    windows = [r for r in lines(out) if r["type"] == "window"]
    assert len(windows) == 1 and windows[0]["end"] == 0.75


def test_bad_files_are_reported_and_the_rest_processed(tmp_path, capsys, tiny_model_path):
    good = write_clip(tmp_path / "good.wav", 16000, 1, "PCM_16")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "noise.flac").write_bytes(b"this is not audio at all" * 100)
    header_only = tmp_path / "header_only.wav"
    sf.write(str(header_only), np.zeros(0, np.float32), 16000)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:30])
    empty_dir = tmp_path / "nothing_here"
    empty_dir.mkdir()
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.full(32000, np.nan, np.float32), 16000, subtype="FLOAT")
    bad = [tmp_path / "missing.wav", tmp_path / "empty.wav", tmp_path / "noise.flac", header_only, truncated, empty_dir, nan]
    code, out, err = run_cli(capsys, "file", "--json", "--model", str(tiny_model_path), *map(str, bad[:3]), str(good), *map(str, bad[3:]))
    assert code == EXIT_INPUT
    assert [r["file"] for r in lines(out) if r["type"] == "verdict"] == [str(good)]
    messages = err.strip().splitlines()
    assert len(messages) == len(bad)
    for path, message in zip(bad, messages):
        assert str(path) in message and "Traceback" not in message


def test_table_shows_what_was_analysed_before_a_file_turns_out_damaged(tmp_path, capsys, tiny_model_path):
    """A FLAC cut off mid-stream fails at 28 s: the terminal table still shows the
    windows analysed until then (as JSON lines would), marked as stopped early,
    then the error; the next file is analysed."""
    damaged = tmp_path / "damaged.flac"
    damaged.write_bytes((SAMPLES / "demo.flac").read_bytes()[:300000])
    code, out, err = run_cli(capsys, "file", "--model", str(tiny_model_path), str(damaged), str(ANGRY))
    assert code == EXIT_INPUT
    damaged_part, angry_part = out.split(str(ANGRY))
    rows = [line for line in damaged_part.splitlines() if line.strip().endswith("%") or "silence" in line]
    # Rows as "25.0 s   28.0 s  fear  44%": the last whole window before the damage (at 28.x s) ends at 28 s.
    assert rows and rows[-1].split()[2] == "28.0"
    assert "stopped early; verdict of the part analysed: " in damaged_part and "verdict: " in angry_part
    assert err.count("\n") == 1 and "corrupt audio data after 28" in err


def test_standard_input_takes_a_wav_stream(tmp_path, tiny_model_path):
    """`sox … -t wav - | livesense file -`: a WAV stream through a real pipe gives what
    the file gives; FLAC, which libsndfile cannot read from a pipe, is a one-line error."""
    import subprocess
    import sys

    from .runtime_support import ROOT

    wav = write_clip(tmp_path / "angry.wav", 44100, 2, "PCM_16")
    command = [sys.executable, "-m", "livesense", "file", "--json", "--model", str(tiny_model_path)]
    expected = subprocess.run([*command, str(wav)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    for source in (wav, ANGRY):
        with open(source, "rb") as f:
            # cat: a pipe, not the file itself, on standard input
            cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
            piped = subprocess.run([*command, "-"], stdin=cat.stdout, cwd=ROOT, capture_output=True, text=True,
                                   timeout=120)
            cat.stdout.close()
            cat.wait()
        if source == wav:
            assert piped.returncode == EXIT_OK, piped.stderr
            assert piped.stdout == expected.stdout.replace(json.dumps(str(wav)), json.dumps("-"))
        else:
            assert piped.returncode == EXIT_INPUT and piped.stdout == ""
            assert "standard input" in piped.stderr and piped.stderr.count("\n") == 1
    with open(wav, "rb") as f:
        twice = subprocess.run([*command, "-", "-"], stdin=f, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert twice.returncode == EXIT_USAGE and "only once" in twice.stderr and twice.stdout == ""


def test_a_file_named_dash_is_reachable_as_dot_slash_dash(tmp_path, capsys, tiny_model_path, monkeypatch):
    write_clip(tmp_path / "angry.wav", 16000, 1, "PCM_16").rename(tmp_path / "-")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "file", "--json", "--model", str(tiny_model_path), "./-")
    assert code == EXIT_OK, err
    assert lines(out)[-1]["type"] == "verdict"
