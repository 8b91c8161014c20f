"""Live sessions without a microphone: `demo`, logs, SIGTERM/SIGKILL, full disk, `report`."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from livesense.cli import EXIT_INPUT, EXIT_OK, main
from livesense.session_log import LogReader

from .runtime_support import ROOT

DEMO_WINDOWS = 57  # 30.12 s demo, 2 s windows every 0.5 s


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory, tiny_model_path):
    """A session log of the bundled demo, played 40x faster than real time."""
    path = tmp_path_factory.mktemp("logs") / "demo.jsonl"
    assert main(["demo", "--json", "--speed", "40", "--model", str(tiny_model_path), "--log", str(path)]) == EXIT_OK
    return path


def test_demo_streams_the_bundled_clip_through_the_engine(demo_log, capsys):
    records = list(LogReader(demo_log))
    assert records[0]["type"] == "session" and records[-1]["type"] == "end"
    windows = [r for r in records if r["type"] == "window"]
    assert len(windows) == DEMO_WINDOWS
    assert [w["start"] for w in windows] == [i * 0.5 for i in range(DEMO_WINDOWS)]
    times = [w["time"] for w in windows]
    # Paced playback: the 30 s clip took about 30 / 40 s, not an instant.
    assert times == sorted(times) and times[-1] - times[0] > 0.4
    speech = [w["speech"] for w in windows]
    assert any(speech) and not all(speech)
    assert records[-1]["duration_s"] == pytest.approx(windows[-1]["end"])


def test_demo_duration_limits_the_session(tiny_model_path, capsys):
    assert main(["demo", "--json", "--speed", "40", "--duration", "5", "--model", str(tiny_model_path)]) == EXIT_OK
    out, err = capsys.readouterr()
    windows = [json.loads(line) for line in out.splitlines()]
    assert [w["end"] for w in windows] == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert "session summary" in err


def test_report_summarises_a_log_cut_mid_line_and_draws_its_png(demo_log, tmp_path, capsys):
    cut = tmp_path / "cut.jsonl"
    text = demo_log.read_text()
    cut.write_text(text + text.splitlines()[5][:40])  # a second session's line cut by a crash
    png = tmp_path / "timeline.png"
    assert main(["report", str(cut), "--png", str(png), "--period", "10"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"{DEMO_WINDOWS} windows" in out and "1 unreadable line(s) skipped" in out
    assert "time per emotion" in out and "longest stretch" in out and "dominant emotion per 10.0 s" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_report_on_missing_or_empty_logs_fails_cleanly(demo_log, tmp_path, capsys):
    png = tmp_path / "t.png"
    assert main(["report", str(tmp_path / "absent.jsonl"), str(demo_log), "--png", str(png)]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert "absent.jsonl: no such log file" in captured.err and png.exists()
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["report", str(tmp_path / "empty.jsonl")]) == EXIT_INPUT
    assert "no window records" in capsys.readouterr().err


def _table_rows(text: str, title: str) -> list[list[str]]:
    """The body rows of the rich table titled ``title`` in ``text``, as stripped cells."""
    lines = text[text.index(title):].splitlines()
    below_header = next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1
    rows = []
    for line in lines[below_header:]:
        if not line.startswith("│"):
            return rows
        rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_summary_and_report_share_one_table_with_their_own_times(tmp_path, capsys, tiny_model_path):
    """After a session of minutes its summary and `report` of its log give the
    same rows; the summary writes times as seconds ("65.5 s"), the report in words
    ("1 min 06 s") and with a silence row."""
    import soundfile as sf

    from livesense.audio import read_audio
    from livesense.output import duration

    from .runtime_support import SAMPLES

    clip, log = tmp_path / "long.wav", tmp_path / "long.jsonl"
    sf.write(str(clip), np.tile(read_audio(SAMPLES / "demo.flac"), 10), 16000)  # 5 min
    assert main(["demo", "--json", "--clip", str(clip), "--speed", "600", "--model", str(tiny_model_path),
                 "--log", str(log)]) == EXIT_OK
    summary = _table_rows(capsys.readouterr().err, "session summary")
    assert main(["report", str(log), "--png", str(tmp_path / "long.png")]) == EXIT_OK
    report = _table_rows(capsys.readouterr().out, "time per emotion")

    def seconds(cell: str) -> float:
        return float(cell.removesuffix(" s"))

    assert all(re.fullmatch(r"\d+\.\d s", cell) for row in summary for cell in (row[2], row[4]))
    assert max(seconds(row[2]) for row in summary) > 60
    assert [row[0] for row in report] == [row[0] for row in summary] + ["silence"]
    for (label, mean, spoken, share, longest), got in zip(summary, report):
        assert got == [label, mean, duration(seconds(spoken)), share, duration(seconds(longest))]


def test_full_disk_keeps_the_session_running(tiny_model_path, tmp_path):
    """A file size limit (1 KiB) stands in for a full disk: the log stops, the session does not."""
    log = tmp_path / "s.jsonl"
    result = subprocess.run(["bash", "-c", 'ulimit -f 1; exec "$0" -m livesense demo --json --speed 40 --duration 4 '
                             '--log "$1" --model "$2"', sys.executable, str(log), str(tiny_model_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_INPUT  # the session ran to its end, but its log is incomplete
    assert len(result.stdout.splitlines()) == 5
    assert f"log {log} stopped: File too large" in result.stderr


def start_demo(tmp_path, model) -> tuple[subprocess.Popen, object]:
    log = tmp_path / "live.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livesense", "demo", "--json", "--speed", "2", "--log", str(log), "--model", str(model)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count('"type":"window"') >= 4:
            return proc, log
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"demo session did not start: {proc.communicate()[1]}")


def test_sigterm_ends_the_session_cleanly(tmp_path, tiny_model_path):
    proc, log = start_demo(tmp_path, tiny_model_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == EXIT_OK, err
    assert "session summary" in err and "Traceback" not in err
    reader = LogReader(log)
    records = list(reader)
    assert reader.skipped == 0 and records[-1]["type"] == "end"
    assert len([r for r in records if r["type"] == "window"]) == len(out.splitlines()) < DEMO_WINDOWS


def test_sigkill_leaves_a_readable_log(tmp_path, tiny_model_path):
    proc, log = start_demo(tmp_path, tiny_model_path)
    proc.kill()
    proc.communicate(timeout=20)
    reader = LogReader(log)
    windows = [r for r in reader if r["type"] == "window"]
    assert len(windows) >= 4 and reader.skipped <= 1
    assert [w["start"] for w in windows] == [i * 0.5 for i in range(len(windows))]


def test_unwritable_log_path_is_a_usage_error(tiny_model_path, tmp_path, capsys):
    code = main(["demo", "--json", "--model", str(tiny_model_path), "--log", str(tmp_path / "no" / "dir.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write log" in err and err.count("\n") == 1


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_live_display_in_a_real_terminal(tmp_path, tiny_model_path):
    """The demo's rich.live display in a tmux pane, read back with capture-pane."""
    name = f"livesense-test-{os.getpid()}"
    command = f"{sys.executable} -m livesense demo --speed 5 --duration 15 --model {tiny_model_path}; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "45", "-c", str(ROOT), command], check=True)
    try:
        deadline, screen = time.monotonic() + 40, ""
        # The summary's last line, printed after its table: polling for the table's
        # title could read the screen between the two.
        while time.monotonic() < deadline and "s analysed" not in screen:
            time.sleep(0.5)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    assert "livesense — demo.flac" in screen and "level" in screen and "dBFS" in screen
    assert "timeline, last" in screen and "time per emotion" in screen and "overflows 0" in screen
    assert all(label in screen for label in ("angry", "disgust", "fear", "happy", "neutral", "sad"))
    assert "session summary" in screen and "15.0 s analysed" in screen


class _SilentDevice:
    """A live source whose device never delivers a block (lost, never back)."""

    name = "device that never delivers"
    overflows = 0

    def blocks(self, stop):
        stop.wait()
        return iter(())


def test_duration_ends_a_session_whose_device_never_delivers(tiny_model_path, monkeypatch):
    from livesense import session
    from livesense.recognizer import Recognizer

    monkeypatch.setattr(session, "DURATION_GRACE_S", 0.5)
    recognizer = Recognizer(str(tiny_model_path))
    began = time.monotonic()
    summary = session.Session(recognizer, _SilentDevice(), duration_s=1.0).run()
    assert time.monotonic() - began < 8  # 1.5 s expected; without the cut-off it would never end
    assert summary.duration_s == 0
