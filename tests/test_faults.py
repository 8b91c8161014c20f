"""Bad input and faults (issue 5), end to end: real files, the real `livesense` CLI in a subprocess.

Every failure must be ONE line on stderr that names the file (or device) and says
what to do, no Python traceback, and the documented exit code (see livesense/cli.py);
a batch goes on with the good files and exits non-zero after finishing them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from livesense.audio import read_audio
from livesense.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE
from livesense.session_log import LogReader

from .runtime_support import ROOT, SAMPLES

ANGRY = SAMPLES / "1058_IWL_ANG_XX.flac"  # 3.07 s: windows start at 0, 0.5, 1.0
CLIP_STARTS = [0.0, 0.5, 1.0]
DEMO_WINDOWS = 57


def livesense(*args, prefix=(), env=None, timeout=120, stdout=subprocess.PIPE, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI as a user would: a fresh interpreter, real stdout/stderr."""
    return subprocess.run([*prefix, sys.executable, "-m", "livesense", *map(str, args)], cwd=ROOT, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout, **kwargs)


def error_lines(result: subprocess.CompletedProcess, code: int) -> list[str]:
    """stderr's lines, after checking the exit code and that they are plain one-line errors."""
    assert result.returncode == code, f"exit {result.returncode}, stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("livesense: ") for line in lines), result.stderr
    return lines


def write_clip(path: Path, rate: int = 16000, channels: int = 1, subtype: str = "PCM_16",
               fmt: str | None = None, seconds: float | None = None, offset_s: float = 0.0) -> Path:
    """The angry sample (from ``offset_s``, ``seconds`` long if given) as an audio file."""
    audio = read_audio(ANGRY)[int(offset_s * 16000) :]
    if seconds is not None:
        audio = audio[: int(seconds * 16000)]
    if rate != 16000:
        audio = soxr.resample(audio, 16000, rate)
    if channels > 1:
        audio = np.stack([audio * (1 - 0.1 * c) for c in range(channels)], axis=1)
    sf.write(str(path), audio, rate, subtype=subtype, format=fmt)
    return path


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


# ---------------------------------------------------------------- files


def good_files(d: Path) -> dict[Path, list[float]]:
    """Every sample format, rate from 8 to 192 kHz, 1 to 8 channels, wrong extensions
    and a clip shorter than one window: each file -> expected window starts."""
    files = {}
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"):
        files[write_clip(d / f"sub_{subtype}.wav", 16000, 1, subtype)] = CLIP_STARTS
    for rate in (8000, 11025, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000):
        files[write_clip(d / f"rate_{rate}.wav", rate, 1, "PCM_16")] = CLIP_STARTS
    for channels in range(2, 9):
        files[write_clip(d / f"ch_{channels}.wav", 48000, channels, "PCM_24")] = CLIP_STARTS
    # Wrong extension for the real format: the content decides, not the name.
    files[write_clip(d / "flac_named.wav", 24000, 2, "PCM_16", fmt="FLAC")] = CLIP_STARTS
    files[write_clip(d / "wav_named.flac", 44100, 1, "PCM_16", fmt="WAV")] = CLIP_STARTS
    files[write_clip(d / "ogg_named.aiff", 44100, 1, "VORBIS", fmt="OGG")] = CLIP_STARTS
    # Shorter than one window: one zero-padded window.
    files[write_clip(d / "short_0.3s.wav", 16000, 1, "PCM_16", seconds=0.3, offset_s=0.8)] = [0.0]
    return files


def bad_files(d: Path) -> dict[Path, tuple[str, str]]:
    """Each bad input -> (what its error must say, what the user is told to do)."""
    good = write_clip(d / "source.wav")
    bad = {}
    bad[d / "missing.wav"] = ("no such file", "check the path")
    (d / "no_audio_here").mkdir()
    (d / "no_audio_here" / "notes.txt").write_text("not audio")
    bad[d / "no_audio_here"] = ("directory holds no audio files", "give audio files or another directory")
    (d / "empty.wav").write_bytes(b"")
    bad[d / "empty.wav"] = ("not an audio file livesense can read", "convert it to WAV or FLAC")
    (d / "random.wav").write_bytes(np.random.default_rng(0).bytes(20000))
    bad[d / "random.wav"] = ("not an audio file livesense can read", "convert it to WAV or FLAC")
    (d / "text.flac").write_text("this is a text file, not audio\n" * 100)
    bad[d / "text.flac"] = ("not an audio file livesense can read", "convert it to WAV or FLAC")
    (d / "truncated_header.wav").write_bytes(good.read_bytes()[:30])
    bad[d / "truncated_header.wav"] = ("not an audio file livesense can read", "convert it to WAV or FLAC")
    header_only = d / "header_only.wav"
    header_only.write_bytes(good.read_bytes()[:44])
    bad[header_only] = ("no audio samples", "check the recording")
    audio = read_audio(ANGRY)
    nan = audio.copy()
    nan[24000] = np.nan  # at 1.50 s
    sf.write(str(d / "nan_float.wav"), nan, 16000, subtype="FLOAT")
    bad[d / "nan_float.wav"] = ("NaN or infinite sample at 1.50 s", "re-export it")
    inf = np.stack([audio, audio], axis=1)
    inf[8000, 1] = np.inf  # at 0.50 s, one channel of two
    sf.write(str(d / "inf_double.wav"), inf, 16000, subtype="DOUBLE")
    bad[d / "inf_double.wav"] = ("NaN or infinite sample at 0.50 s", "re-export it")
    # The header promises 3.07 s, the file holds 2.5 s: a damaged file, analysed as far as it goes.
    cut = d / "truncated_data.wav"
    cut.write_bytes(good.read_bytes()[: 44 + 2 * 40000])
    bad[cut] = ("truncated: it holds 2.5 s of the 3.1 s its header announces", "copy the file again")
    good.unlink()
    return bad


def test_batch_of_good_and_bad_files_reports_each_bad_one_and_finishes_the_rest(tmp_path, tiny_model_path):
    good = good_files(tmp_path)
    bad = bad_files(tmp_path)
    # Bad and good interleaved: every error must leave the rest of the batch running.
    order = [p for pair in zip(list(bad) + [None] * len(good), good) for p in pair if p is not None]
    result = livesense("file", "--json", "--model", tiny_model_path, *order)

    lines = error_lines(result, EXIT_INPUT)
    assert len(lines) == len(bad), result.stderr
    for path, (problem, advice) in bad.items():
        [line] = [line for line in lines if line.startswith(f"livesense: {path}: ")]
        assert problem in line and advice in line, line

    records = jsonl(result.stdout)
    verdicts = {r["file"] for r in records if r["type"] == "verdict"}
    assert verdicts == {str(p) for p in good}
    for path, starts in good.items():
        windows = [r for r in records if r["type"] == "window" and r["file"] == str(path)]
        assert [w["start"] for w in windows] == starts, path
        assert windows[0]["speech"], path  # the speech was decoded, not noise (nor judged silence)
        for w in windows:
            if w["speech"]:
                assert abs(sum(w["raw_probabilities"].values()) - 1) < 1e-3


def test_clips_shorter_than_one_window(tmp_path, tiny_model_path):
    """One zero-padded window that ends where the audio ends; its speech share counts
    the real audio only, so a short word is speech and a single sample is silence.
    (The word is taken from the clip's vowels: its first 0.4 s hold no voiced frame.)"""
    word = write_clip(tmp_path / "word.wav", 44100, 2, "PCM_16", seconds=0.4, offset_s=0.8)
    sample = write_clip(tmp_path / "one_sample.wav", 16000, 1, "PCM_16", seconds=1 / 16000)
    result = livesense("file", "--json", "--model", tiny_model_path, word, sample)
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr
    windows = {r["file"]: r for r in jsonl(result.stdout) if r["type"] == "window"}
    assert windows[str(word)]["speech"] and windows[str(word)]["end"] == 0.4
    assert not windows[str(sample)]["speech"] and windows[str(sample)]["end"] == 0.0
    assert len(jsonl(result.stdout)) == 4  # a window and a verdict each


def test_terminal_output_with_bad_files_and_names_that_look_like_markup(tmp_path, tiny_model_path):
    """The default (rich table) output; file names are shown verbatim, never read as markup."""
    good = write_clip(tmp_path / "[bold]take [1].wav")
    missing = tmp_path / "[red]gone.wav"
    (tmp_path / "broken.ogg").write_bytes(b"OggS" + bytes(100))
    result = livesense("file", "--model", tiny_model_path, missing, good, tmp_path / "broken.ogg")
    lines = error_lines(result, EXIT_INPUT)
    assert lines[0] == f"livesense: {missing}: no such file; check the path"
    assert lines[1].startswith(f"livesense: {tmp_path / 'broken.ogg'}: not an audio file")
    assert len(lines) == 2
    assert "take [1].wav" in result.stdout and "[bold]" in result.stdout and "verdict:" in result.stdout


def unprivileged_prefix(probe_dir: Path) -> list[str]:
    """A command prefix under which file permissions apply to the CLI, checked to work.

    Not root: nothing needed. Root: an unprivileged user (setpriv to nobody) if
    that user can run this interpreter; otherwise root without any capability
    (no CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH), for whom a mode-000 file is
    as unreadable as for anyone. Skips, with the reason, when neither works.
    """
    if os.geteuid() != 0:
        return []
    locked = probe_dir / "probe_locked"
    locked.write_text("x")
    locked.chmod(0)
    check = ["-c", f"import livesense.cli\ntry:\n open({str(locked)!r})\nexcept PermissionError:\n pass\n"
                   "else:\n raise SystemExit(9)"]
    tried = []
    for prefix in (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
                   ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]):
        if shutil.which(prefix[0]) is None:
            tried.append(f"{prefix[0]} not installed")
            continue
        probe = subprocess.run([*prefix, sys.executable, *check], cwd=ROOT, capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            locked.unlink()
            return prefix
        tried.append(f"{' '.join(prefix)}: {(probe.stderr.strip().splitlines() or ['exit %d' % probe.returncode])[-1]}")
    pytest.skip("cannot run the CLI without file-permission privileges: " + "; ".join(tried))


@pytest.fixture
def open_dir(tiny_model_path):
    """A directory any user can enter (pytest's tmp_path is private to its owner), with the model."""
    path = Path(tempfile.mkdtemp(prefix="livesense-perm-"))
    path.chmod(0o755)
    shutil.copy(tiny_model_path, path / "tiny.onnx")
    (path / "tiny.onnx").chmod(0o644)
    yield path
    for p in path.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path)


def test_unreadable_files_and_unwritable_outputs_without_privileges(open_dir):
    prefix = unprivileged_prefix(open_dir)
    good = write_clip(open_dir / "good.wav")
    good.chmod(0o644)
    locked = write_clip(open_dir / "locked.wav")
    locked.chmod(0)
    model = open_dir / "tiny.onnx"
    env = {**os.environ, "HOME": "/nonexistent"}  # like a service account: nowhere to keep caches
    result = livesense("file", "--json", "--model", model, locked, good, prefix=prefix, env=env)
    [line] = error_lines(result, EXIT_INPUT)
    assert line == (f"livesense: {locked}: permission denied; make the file readable (chmod +r) "
                    "or run livesense as a user who can read it")
    assert [r["file"] for r in jsonl(result.stdout) if r["type"] == "verdict"] == [str(good)]

    batch = open_dir / "batch"
    (batch / "closed").mkdir(parents=True)
    shutil.copy(good, batch / "a.wav")
    shutil.copy(good, batch / "closed" / "b.wav")
    for path in (batch, batch / "a.wav", batch / "closed" / "b.wav"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (batch / "closed").chmod(0)
    (batch / "listable").mkdir()
    shutil.copy(good, batch / "listable" / "c.wav")
    (batch / "listable").chmod(0o644)  # its names can be read, its files not reached
    result = livesense("file", "--json", "--model", model, batch, batch / "closed", prefix=prefix, env=env)
    closed = (f"livesense: {batch / 'closed'}: cannot read the directory (Permission denied); its audio files "
              "were skipped: make it readable (chmod +rx) or run livesense as a user who can")
    unreachable = (f"livesense: {batch / 'listable' / 'c.wav'}: cannot reach the file (Permission denied); "
                   "make its directory enterable (chmod +x) or run livesense as a user who can")
    assert sorted(error_lines(result, EXIT_INPUT)) == sorted([closed, unreachable, closed])
    assert [r["file"] for r in jsonl(result.stdout) if r["type"] == "verdict"] == [str(batch / "a.wav")]

    locked_model = open_dir / "locked.onnx"
    shutil.copy(model, locked_model)
    locked_model.chmod(0)
    result = livesense("file", "--model", locked_model, good, prefix=prefix)
    [line] = error_lines(result, EXIT_USAGE)
    assert line == (f"livesense: {locked_model}: cannot read the model (Permission denied); make it readable "
                    "or choose another --model")

    readonly = open_dir / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    result = livesense("demo", "--json", "--model", model, "--log", readonly / "s.jsonl", prefix=prefix)
    [line] = error_lines(result, EXIT_USAGE)
    assert f"{readonly / 's.jsonl'}: cannot write log (Permission denied); choose another --log path" in line
    result = livesense("calibrate", "--file", SAMPLES / "demo.flac", "--model", model, "-o", readonly / "p.json",
                       prefix=prefix)
    [line] = error_lines(result, EXIT_USAGE)
    assert str(readonly / "p.json") in line and "choose another --output path" in line

    writable = open_dir / "writable"
    writable.mkdir()
    writable.chmod(0o777)
    log = writable / "s.jsonl"
    result = livesense("demo", "--json", "--speed", "40", "--duration", "3", "--model", model, "--log", log,
                       prefix=prefix, env=env)
    assert result.returncode == EXIT_OK and "Traceback" not in result.stderr, result.stderr
    result = livesense("report", log, "--png", readonly / "t.png", prefix=prefix, env=env)
    [line] = error_lines(result, EXIT_USAGE)
    assert f"{readonly / 't.png'}: cannot write the timeline PNG (Permission denied)" in line
    result = livesense("report", log, "--png", writable / "t.png", prefix=prefix, env=env)
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr


def test_two_hour_file_in_constant_memory(tmp_path, tiny_model_path):
    """A 2-hour recording (8 kHz, so it is resampled) streams through `file` with the
    same peak memory as a 1-minute one."""
    clip = soxr.resample(read_audio(ANGRY), 16000, 8000)
    minute = np.zeros(8000 * 60, np.float32)
    minute[: len(clip)] = clip  # a sentence every minute, so speech windows run the model throughout
    peaks, counts = {}, {}
    for name, minutes in (("1min", 1), ("2h", 120)):
        path = tmp_path / f"{name}.flac"
        with sf.SoundFile(str(path), "w", 8000, 1, "PCM_16", format="FLAC") as f:
            for _ in range(minutes):
                f.write(minute)
        with open(tmp_path / f"{name}.jsonl", "w") as out:
            # stderr to a file: an unread pipe could fill and stall the child.
            proc = subprocess.Popen([sys.executable, "-m", "livesense", "file", "--json", "--model",
                                     str(tiny_model_path), str(path)], cwd=ROOT, stdout=out,
                                    stderr=open(tmp_path / f"{name}.err", "w"))
            _, status, usage = os.wait4(proc.pid, 0)  # wait4: the child's own peak RSS
            proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.returncode == EXIT_OK, (tmp_path / f"{name}.err").read_text()
        peaks[name] = usage.ru_maxrss * 1024  # Linux: KiB
        with open(tmp_path / f"{name}.jsonl") as out:
            counts[name] = sum(1 for _ in out)
    assert counts == {"1min": 1 + (60 - 2) * 2 + 1, "2h": 1 + (7200 - 2) * 2 + 1}  # windows + verdict
    assert peaks["2h"] < peaks["1min"] + 25 * 2**20, peaks


# ---------------------------------------------------------------- models


def test_model_errors(tmp_path, tiny_model_path):
    import onnx

    (tmp_path / "junk.onnx").write_bytes(b"not an onnx file")
    (tmp_path / "empty.onnx").write_bytes(b"")
    bare = onnx.load(str(tiny_model_path))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    mismatched = onnx.load(str(tiny_model_path))
    meta = json.loads(mismatched.metadata_props[0].value)
    meta["labels"] = meta["labels"][:5]
    mismatched.metadata_props[0].value = json.dumps(meta)
    onnx.save(mismatched, str(tmp_path / "mismatched.onnx"))
    broken = onnx.load(str(tiny_model_path))
    broken.metadata_props[0].value = '{"name": "x"'
    onnx.save(broken, str(tmp_path / "broken_meta.onnx"))

    def damaged(name: str, change) -> None:
        model = onnx.load(str(tiny_model_path))
        meta = json.loads(model.metadata_props[0].value)
        change(meta)
        model.metadata_props[0].value = json.dumps(meta)
        onnx.save(model, str(tmp_path / f"{name}.onnx"))

    damaged("hop0", lambda m: m["features"].update(hop_s=0))  # looped forever before it was checked
    damaged("window3", lambda m: m["features"].update(window_s=3.0))
    damaged("nan_stats", lambda m: m["global_stats"]["mean"].__setitem__(0, float("nan")))
    cases = {
        str(tmp_path / "absent.onnx"): ("model file not found", "give a shipped model ('bilstm', 'cnn', 'ensemble', "
                                                                "'logreg') or the path"),
        "no-such-model": ("no shipped model named 'no-such-model'", "give a path to an .onnx file"),
        str(tmp_path / "junk.onnx"): ("not a valid ONNX model", "--model cnn"),
        str(tmp_path / "empty.onnx"): ("not a valid ONNX model", "--model cnn"),
        str(tmp_path / "bare.onnx"): ("has no livesense metadata", "python -m training train"),
        str(tmp_path / "mismatched.onnx"): ("metadata lists 5 labels but the model outputs 6 classes",
                                            "re-export it"),
        str(tmp_path / "broken_meta.onnx"): ("livesense metadata is invalid", "re-export the model"),
        str(tmp_path / "hop0.onnx"): ("hop_s 0 is not a positive number", "re-export the model"),
        str(tmp_path / "window3.onnx"): ("metadata describes windows of 149 x", "re-export it"),
        str(tmp_path / "nan_stats.onnx"): ("statistics hold NaN", "re-export the model"),
    }
    for model, (problem, advice) in cases.items():
        for command in (["file", ANGRY], ["demo", "--json", "--duration", "1"]):
            result = livesense(command[0], "--model", model, *command[1:])
            [line] = error_lines(result, EXIT_USAGE)
            assert line.startswith(f"livesense: {model}: ") or model in line, line
            assert problem in line and advice in line, line
            assert result.stdout == ""


# ---------------------------------------------------------------- logs


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) for a private tmpfs")
def test_disk_full_mid_session_keeps_the_session_and_the_written_log(tmp_path, tiny_model_path):
    """The log lives on a 12 KiB tmpfs that fills after about 30 windows: the session
    analyses all 57 windows, says the log stopped and exits 1; the log holds valid
    JSON lines up to the last complete one."""
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    script = ('mount -t tmpfs -o size=12k tmpfs "$1" || exit 99; '
              '"$2" -m livesense demo --json --speed 40 --model "$3" --log "$1/s.jsonl"; rc=$?; '
              'cp "$1/s.jsonl" "$4/"; exit $rc')
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
                             str(disk), sys.executable, str(tiny_model_path), str(kept)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    if result.returncode == 99 or "unshare:" in result.stderr:
        pytest.skip(f"no private tmpfs here: {result.stderr.strip()}")
    assert result.returncode == EXIT_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    stopped = f"log {disk / 's.jsonl'} stopped: No space left on device; the session goes on without it"
    assert result.stderr.startswith(f"livesense: {stopped}\n")
    assert "session summary" in result.stderr and result.stderr.rstrip().endswith(stopped)
    windows = jsonl(result.stdout)
    assert [w["start"] for w in windows] == [i * 0.5 for i in range(DEMO_WINDOWS)]

    reader = LogReader(kept / "s.jsonl")
    records = list(reader)
    logged = [r for r in records if r["type"] == "window"]
    assert records[0]["type"] == "session" and reader.skipped <= 1
    assert 10 < len(logged) < DEMO_WINDOWS
    assert [w["start"] for w in logged] == [w["start"] for w in windows[: len(logged)]]


def test_report_on_a_log_cut_mid_line_and_on_things_that_are_not_logs(tmp_path, tiny_model_path):
    log = tmp_path / "session.jsonl"
    result = livesense("demo", "--json", "--speed", "40", "--duration", "10", "--model", tiny_model_path,
                       "--log", log)
    assert result.returncode == EXIT_OK, result.stderr
    text = log.read_text()
    lines = text.splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # SIGKILL / power cut mid-line
    result = livesense("report", log, "--png", tmp_path / "t.png")
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr
    assert "17 windows" in result.stdout and "1 unreadable line(s) skipped" in result.stdout
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"

    (tmp_path / "a_dir.jsonl").mkdir()
    cases = {
        tmp_path / "absent.jsonl": "no such log file",
        tmp_path / "a_dir.jsonl": "is a directory, not a log file",
    }
    for path, problem in cases.items():
        result = livesense("report", path, log, "--png", tmp_path / "u.png")  # the good log is still reported
        [line] = error_lines(result, EXIT_INPUT)
        assert line.startswith(f"livesense: {path}: {problem}")
        assert "17 windows" in result.stdout
    result = livesense("report", ANGRY)
    [line] = error_lines(result, EXIT_INPUT)
    assert str(ANGRY) in line and "no window records found; is this a livesense log?" in line
    result = livesense("report", log, "--png", tmp_path / "no_dir" / "t.png")
    [line] = error_lines(result, EXIT_USAGE)
    assert str(tmp_path / "no_dir" / "t.png") in line and "choose another --png path" in line


def test_usage_errors_exit_2_with_one_line(tiny_model_path):
    result = livesense("file")
    assert result.returncode == EXIT_USAGE and "Traceback" not in result.stderr
    assert re.search(r"livesense file: error: the following arguments are required: PATH", result.stderr)
    result = livesense("demo", "--speed", "-1", "--model", tiny_model_path)
    assert result.returncode == EXIT_USAGE and "must be a positive finite number: '-1'" in result.stderr
    for args in (["demo", "--duration", "inf"], ["calibrate", "--seconds", "inf"], ["report", "x", "--period", "inf"]):
        result = livesense(*args)
        assert result.returncode == EXIT_USAGE and "must be a positive finite number: 'inf'" in result.stderr
    result = livesense("demo", "--speed", "1e-300")
    assert result.returncode == EXIT_USAGE and "must be between 0.01 and 10000" in result.stderr


# ---------------------------------------------------------------- odd names, full stdout, damage midway


def test_a_name_that_is_not_utf8_does_not_stop_the_batch(tmp_path, tiny_model_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    odd = Path(os.fsdecode(bytes(folder) + b"/bad\xffname.flac"))  # Latin-1 era name, not valid UTF-8
    odd.write_bytes(ANGRY.read_bytes())
    write_clip(folder / "z_good.wav")
    result = livesense("file", "--csv", "--model", tiny_model_path, folder, errors="surrogateescape")
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr
    verdicts = [row for row in result.stdout.splitlines() if row.startswith("verdict,")]
    assert len(verdicts) == 2 and verdicts[0].startswith(f"verdict,{odd},") and "z_good.wav" in verdicts[1]


def test_output_to_a_full_disk_is_a_one_line_error(tiny_model_path, tmp_path):
    log = tmp_path / "s.jsonl"
    with open("/dev/full", "w") as full:
        for command in (["file", ANGRY], ["file", "--json", ANGRY], ["demo", "--json", "--speed", "40"],
                        ["demo", "--speed", "40", "--duration", "3", "--log", log]):  # the live display fails
            result = livesense(*command, "--model", tiny_model_path, stdout=full)
            assert result.returncode == EXIT_USAGE, result.stderr
            assert result.stderr.splitlines()[-1] == (
                "livesense: cannot write the output (No space left on device); check the disk or the pipe it goes to")
            assert "Traceback" not in result.stderr
    assert json.loads(log.read_text().splitlines()[-1])["type"] == "end"  # the session still ended cleanly


def test_report_refuses_to_draw_over_its_own_log(tmp_path, tiny_model_path):
    log = tmp_path / "session.png"  # a log with an unlucky name
    assert livesense("demo", "--json", "--speed", "40", "--duration", "4", "--model", tiny_model_path,
                     "--log", log).returncode == EXIT_OK
    text = log.read_text()
    [line] = error_lines(livesense("report", log), EXIT_USAGE)
    assert "is also an input of this command" in line and log.read_text() == text


def test_a_demo_clip_damaged_midway_keeps_its_log_and_summary(tmp_path, tiny_model_path):
    damaged = tmp_path / "damaged.flac"
    damaged.write_bytes((ROOT / "livesense" / "samples" / "demo.flac").read_bytes()[:300000])
    log = tmp_path / "s.jsonl"
    result = livesense("demo", "--json", "--speed", "40", "--clip", damaged, "--model", tiny_model_path, "--log", log)
    assert result.returncode == EXIT_INPUT and "Traceback" not in result.stderr
    assert "session summary" in result.stderr and "corrupt audio data" in result.stderr.splitlines()[-1]
    records = list(LogReader(log))
    assert records[-1]["type"] == "end" and records[-1]["duration_s"] >= 20
    assert len(jsonl(result.stdout)) == len(records) - 2  # every window printed was logged


def test_report_skips_window_records_with_impossible_values(tmp_path, tiny_model_path):
    log = tmp_path / "s.jsonl"
    assert livesense("demo", "--json", "--speed", "40", "--duration", "4", "--model", tiny_model_path,
                     "--log", log).returncode == EXIT_OK
    lines = log.read_text().splitlines()
    window = json.loads(lines[1])
    damaged = [{**window, "start": float("nan")}, {**window, "label": None}, {**window, "raw_probabilities": "x"},
               {**window, "time": 1e20}, {**window, "end": "inf"}, {**window, "start": 10 ** 400}]
    log.write_text("\n".join(lines[:-1] + [json.dumps(r) for r in damaged] + lines[-1:]) + "\n")
    result = livesense("report", log, "--png", tmp_path / "t.png")
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr
    assert result.stdout.startswith("1 session, 5 windows")
    assert (f"6 record(s) with impossible values left out (the first: {log} line 7: its start is not a finite "
            "number)") in result.stdout
    [line] = error_lines(livesense("report", log, "--png", tmp_path / "t.xyz"), EXIT_USAGE)
    assert "give a --png path ending in .png" in line


def test_output_piped_into_head_ends_quietly_with_exit_0(tiny_model_path):
    """A reader that stops early (`| head -1`) is not a failure, whatever the output format."""
    for fmt in ([], ["--json"], ["--csv"]):
        command = " ".join([sys.executable, "-m", "livesense", "file", *fmt, "--model", str(tiny_model_path),
                            *[str(p) for p in sorted(SAMPLES.glob("*.flac"))] * 20])
        result = subprocess.run(["bash", "-c", f"{command} | head -1; exit ${{PIPESTATUS[0]}}"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == EXIT_OK and result.stderr == "", (fmt, result.stderr)
        assert len(result.stdout.splitlines()) == 1


# ---------------------------------------------------------------- damage midway: nothing analysed is lost


FORMATS = {"table": [], "json": ["--json"], "csv": ["--csv"]}


def recording(path: Path) -> Path:
    """The bundled samples end to end (40 s of real speech), as FLAC."""
    sf.write(str(path), np.concatenate([read_audio(p) for p in sorted(SAMPLES.glob("*.flac"))]), 16000,
             subtype="PCM_16")
    return path


def decodable_s(path: Path) -> float:
    """Seconds of a damaged file that libsndfile decodes, read in steps of one FLAC
    frame (4096 samples as libsndfile writes them): where its damage is,
    independently of how livesense reads."""
    decoded = 0
    with sf.SoundFile(str(path)) as f:
        try:
            while len(block := f.read(4096)):
                decoded += len(block)
        except (sf.LibsndfileError, RuntimeError):
            pass
    return decoded / 16000


def windows_of(result: subprocess.CompletedProcess, fmt: str) -> list[tuple[float, float, str]]:
    """(start, end, label) of every window a `file` run printed; the table gives its rows' (from, to, label)."""
    if fmt == "json":
        return [(r["start"], r["end"], r["label"]) for r in jsonl(result.stdout) if r["type"] == "window"]
    if fmt == "csv":
        rows = [row.split(",") for row in result.stdout.splitlines()[1:]]
        return [(float(r[2]), float(r[3]), r[5]) for r in rows if r[0] == "window"]
    rows = re.findall(r"^\s*([\d.]+) s\s+([\d.]+) s\s+(\S+)", result.stdout, re.M)
    return [(float(start), float(end), label) for start, end, label in rows]


@pytest.mark.parametrize("seed", range(3))
def test_a_recording_damaged_at_a_random_point_keeps_every_window_before_it(tmp_path, tiny_model_path, seed):
    """Fault injection: a real recording cut, or overwritten with garbage, at a seeded
    random point; every window an undamaged run analysed before the damage is in the
    output, in every format, and the run exits 1 with one error line."""
    whole = recording(tmp_path / "whole.flac")
    data = whole.read_bytes()
    rng = np.random.default_rng(seed)
    at = int(rng.integers(len(data) // 10, len(data) * 9 // 10))
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[:at])
    garbled = tmp_path / "garbled.flac"
    garbled.write_bytes(data[:at] + rng.bytes(500) + data[at + 500:])
    pcm = tmp_path / "cut.wav"  # a WAV whose header claims more than the file holds
    sf.write(str(pcm), read_audio(whole), 16000, subtype="PCM_16")
    seconds = float(rng.uniform(4, 36))
    pcm.write_bytes(pcm.read_bytes()[: 44 + 2 * int(seconds * 16000)])

    for fmt, flags in FORMATS.items():
        reference = windows_of(livesense("file", *flags, "--model", tiny_model_path, whole), fmt)
        for damaged, damage_s in ((cut, decodable_s(cut)), (garbled, decodable_s(garbled)), (pcm, seconds)):
            result = livesense("file", *flags, "--model", tiny_model_path, damaged)
            [line] = error_lines(result, EXIT_INPUT)
            assert str(damaged) in line, line
            got = windows_of(result, fmt)
            if fmt == "table":  # stretches of one emotion: the rows before the damage, the last one cut there
                before = [row for row in reference if row[1] <= damage_s]
                assert got[: len(before) - 1] == before[:-1], (damaged, damage_s)
                assert got[len(before) - 1][:1] == before[-1][:1] and got[-1][1] >= before[-1][1] - 2
                assert "stopped early" in result.stdout
            else:
                before = [window for window in reference if window[1] <= damage_s]
                assert len(before) >= 2 * damage_s - 4  # a window every 0.5 s, all before the damage
                assert got[: len(before)] == before, (damaged, damage_s)


def test_a_non_finite_sample_ends_the_file_after_every_window_before_it(tmp_path, tiny_model_path):
    audio = read_audio(recording(tmp_path / "whole.flac"))
    sf.write(str(tmp_path / "whole.wav"), audio, 16000, subtype="FLOAT")
    audio[int(6.25 * 16000)] = np.inf
    sf.write(str(tmp_path / "inf.wav"), audio, 16000, subtype="FLOAT")
    reference = jsonl(livesense("file", "--json", "--model", tiny_model_path, tmp_path / "whole.wav").stdout)
    result = livesense("file", "--json", "--model", tiny_model_path, tmp_path / "inf.wav")
    [line] = error_lines(result, EXIT_INPUT)
    assert "NaN or infinite sample at 6.25 s" in line
    before = [{**w, "file": ""} for w in reference if w["type"] == "window" and w["end"] <= 6.25]
    assert [w["end"] for w in before][-1] == 6.0
    assert [{**w, "file": ""} for w in jsonl(result.stdout)] == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_sigterm_on_file_prints_every_window_analysed_like_ctrl_c(tmp_path, tiny_model_path, fmt):
    """`timeout` or a service manager stopping `file` mid-stream: every window of the
    audio that arrived (the pending group of speech windows included) is printed, in
    every format, then one line, exit 143."""
    wav = tmp_path / "take.wav"
    sf.write(str(wav), read_audio(recording(tmp_path / "whole.flac")), 16000, subtype="PCM_16")
    reference = windows_of(livesense("file", *FORMATS[fmt], "--model", tiny_model_path, wav), fmt)
    header, audio = wav.read_bytes()[:44], wav.read_bytes()[44:]
    header = header[:4] + b"\xff\xff\xff\x7f" + header[8:40] + b"\x00\xf0\xff\x7f"  # a stream's placeholder sizes
    proc = subprocess.Popen([sys.executable, "-m", "livesense", "file", *FORMATS[fmt], "--model",
                             str(tiny_model_path), "-"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(header + audio)  # 40 s; the pipe stays open, so `file` waits for more
    proc.stdin.flush()
    time.sleep(8)
    proc.terminate()
    out, err = (stream.decode() for stream in proc.communicate(timeout=60))
    assert proc.returncode == 143 and err == "livesense: terminated (SIGTERM)\n", err
    got = windows_of(subprocess.CompletedProcess([], 143, out, err), fmt)
    whole_blocks_s = int(len(audio) / 2 / 16000)  # the file is read a second at a time
    if fmt == "table":
        assert "stopped early; verdict of the part analysed" in out
        assert got[:-1] == reference[: len(got) - 1] and got[-1][1] == whole_blocks_s
    else:
        assert got == [window for window in reference if window[1] <= whole_blocks_s]
        if fmt == "json":
            assert all(record["type"] == "window" for record in jsonl(out))  # whole lines, no verdict


# ---------------------------------------------------------------- smaller faults, one line each


def test_paths_that_are_fifos_symlinks_and_loops(tmp_path, tiny_model_path):
    # A symlinked subfolder is followed; a link back to its parent is walked once.
    (tmp_path / "real").mkdir()
    write_clip(tmp_path / "real" / "a.wav")
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "back").symlink_to(tmp_path / "real")
    result = livesense("file", "--json", "--model", tiny_model_path, tmp_path / "batch")
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr
    assert [r["file"] for r in jsonl(result.stdout) if r["type"] == "verdict"] == [
        str(tmp_path / "batch" / "linked" / "a.wav")]

    loop = tmp_path / "loop.wav"
    loop.symlink_to(tmp_path / "loop2.wav")
    (tmp_path / "loop2.wav").symlink_to(loop)
    [line] = error_lines(livesense("file", "--model", tiny_model_path, loop), EXIT_INPUT)
    assert line == f"livesense: {loop}: is a symlink loop (links that lead back to themselves); " \
                   "point the link at an audio file"

    fifo = tmp_path / "take.flac"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f'cat "{ANGRY}" > "{fifo}"'])
    result = livesense("file", "--model", tiny_model_path, fifo)
    writer.kill()
    writer.wait()
    [line] = error_lines(result, EXIT_INPUT)
    assert line.startswith(f"livesense: {fifo}: not audio livesense can read from a pipe") and "pipe WAV" in line
    assert "convert it to WAV or FLAC" not in line


def test_a_file_in_a_directory_that_cannot_be_entered_given_directly(open_dir):
    prefix = unprivileged_prefix(open_dir)
    closed = open_dir / "closed"
    closed.mkdir()
    write_clip(closed / "a.wav").chmod(0o644)
    closed.chmod(0o644)  # readable, not enterable
    result = livesense("file", "--model", open_dir / "tiny.onnx", closed / "a.wav", prefix=prefix)
    [line] = error_lines(result, EXIT_INPUT)
    assert line == (f"livesense: {closed / 'a.wav'}: cannot reach the file (Permission denied); make its "
                    "directory enterable (chmod +x) or run livesense as a user who can")


def test_options_out_of_range_are_usage_errors(tmp_path, tiny_model_path):
    for args, problem in ((["listen", "--samplerate", "0"], "must be a positive whole number: '0'"),
                          (["listen", "--samplerate", "4.4e4"], "not a whole number: '4.4e4'"),
                          (["demo", "--duration", "1e308"], "must be between 0 and 31622400: '1e308'"),
                          (["demo", "--log-max-mb", "1e308"], "must be between 0 and 1000000: '1e308'"),
                          (["calibrate", "--seconds", "1e308"], "must be between 0 and 600: '1e308'")):
        result = livesense(*args, "--model", tiny_model_path)
        assert result.returncode == EXIT_USAGE and problem in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    [line] = error_lines(livesense("file", "--model", tmp_path, ANGRY), EXIT_USAGE)
    assert line.startswith(f"livesense: {tmp_path}: is a directory, not a model file; give a shipped model")


def test_report_shows_labels_that_look_like_markup_as_text(tmp_path, tiny_model_path):
    log = tmp_path / "s.jsonl"
    assert livesense("demo", "--json", "--speed", "40", "--duration", "4", "--model", tiny_model_path,
                     "--log", log).returncode == EXIT_OK
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        if record.get("type") == "window" and record["label"] != "silence":
            record["label"] = "[/oops]"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = livesense("report", log, "--png", tmp_path / "t.png")
    assert result.returncode == EXIT_OK and result.stderr == "", result.stderr
    assert "[/oops]" in result.stdout


def test_the_api_refuses_integer_chunks(tiny_model_path):
    from livesense import Recognizer

    samples = (read_audio(ANGRY) * 32767).astype(np.int16)
    with pytest.raises(ValueError, match=r"expected float samples in \[-1, 1\], got int16; .* chunk / 32768"):
        list(Recognizer(tiny_model_path).stream([samples]))


def test_native_library_messages_never_reach_stderr(tmp_path):
    """libmpg123 writes a line to fd 2 for every bad frame of a damaged MP3: none
    reach the user, who gets livesense's one line."""
    audio = read_audio(SAMPLES / "demo.flac")
    sf.write(tmp_path / "good.mp3", audio, 16000, format="MP3")
    damaged = bytearray((tmp_path / "good.mp3").read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(2000, len(damaged) - 100, 300):
        damaged[i] = rng.integers(256)
    (tmp_path / "bad.mp3").write_bytes(bytes(damaged))
    raw = subprocess.run([sys.executable, "-c", "import soundfile as sf, sys; sf.read(sys.argv[1])",
                          str(tmp_path / "bad.mp3")], capture_output=True, text=True)
    assert "libmpg123" in raw.stderr  # the library does write there
    result = livesense("file", str(tmp_path / "bad.mp3"))
    assert result.returncode == EXIT_INPUT and len(result.stderr.splitlines()) == 1, result.stderr
    assert "truncated" in result.stderr and "libmpg123" not in result.stderr


def test_a_sound_system_portaudio_cannot_start_is_a_device_error(tmp_path):
    """PortAudio fails to start with a broken ALSA configuration: exit 3 and one line, not an internal error."""
    (tmp_path / "asound.conf").write_text("broken {{{\n")
    result = livesense("devices", env={**os.environ, "ALSA_CONFIG_PATH": str(tmp_path / "asound.conf")})
    assert result.returncode == 3 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "PortAudio cannot start" in result.stderr
