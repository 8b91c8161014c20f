"""`livesense report` over several sessions, rotated parts and both clocks (issue 16):
sessions told apart by their id, parts read in time order whatever the order given,
audio time never added to clock time, impossible values refused with a clear note,
lines read in bounded pieces."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from livesense.cli import EXIT_INPUT, EXIT_OK, main
from livesense.output import duration
from livesense.session_log import LogReader

from .runtime_support import ROOT, SAMPLES

DEMO_S = 30.0  # the bundled demo clip's windows cover 30 s


def demo(model: Path, log: Path, *options: str) -> None:
    assert main(["demo", "--json", "--speed", "40", "--model", str(model), "--log", str(log), *options]) == EXIT_OK


def report(capsys, *args) -> str:
    code = main(["report", *map(str, args)])
    captured = capsys.readouterr()
    assert code == EXIT_OK and captured.err == "", captured.err
    return captured.out


def header(out: str) -> str:
    return out.splitlines()[0]


def sessions_table(out: str) -> str:
    return out[re.search(r"^sessions *$", out, re.M).start():out.index("time per emotion")]


def emotion_rows(out: str) -> list[list[str]]:
    lines = out[out.index("time per emotion"):].splitlines()
    rows = []
    for line in lines[next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1:]:
        if not line.startswith("│"):
            return rows
        rows.append([cell.strip() for cell in line.strip("│").split("│")])


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory, tiny_model_path) -> Path:
    """Two demo sessions appended to one log."""
    log = tmp_path_factory.mktemp("logs") / "two.jsonl"
    demo(tiny_model_path, log)
    demo(tiny_model_path, log)
    return log


def test_every_record_carries_its_session_id(two_sessions):
    records = list(LogReader(two_sessions))
    ids = [record["session"] for record in records]
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
    first, second = ids[0], ids[-1]
    assert first != second and ids == [first] * (len(ids) // 2) + [second] * (len(ids) // 2)
    assert [r["type"] for r in records if r["session"] == first][::len(ids) // 2 - 1] == ["session", "end"]


def test_two_sessions_in_one_log_are_two_sessions_even_interleaved(two_sessions, tmp_path, capsys):
    """Two sessions that wrote to one log at the same time: their lines alternate."""
    lines = two_sessions.read_text().splitlines()
    half = len(lines) // 2
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(a + "\n" + b + "\n" for a, b in zip(lines[:half], lines[half:])))
    expected = report(capsys, two_sessions, "--png", tmp_path / "a.png")
    out = report(capsys, mixed, "--png", tmp_path / "b.png")
    assert header(out).startswith(f"2 sessions, 114 windows, {duration(2 * DEMO_S)} analysed")
    assert emotion_rows(out) == emotion_rows(expected)
    # No "neutral 0.0 s" row: every emotion shown had time, but the verdict may lead without any.
    assert all(float(row[2].split()[0]) > 0 for row in emotion_rows(out)[1:])
    sessions = sessions_table(out)
    assert sessions.count(f"{duration(DEMO_S)}") == 2


def test_older_logs_without_session_ids_are_still_told_apart(two_sessions, tmp_path, capsys):
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "session"}) + "\n"
                           for line in two_sessions.read_text().splitlines()))
    out = report(capsys, old, "--png", tmp_path / "t.png")
    assert header(out).startswith(f"2 sessions, 114 windows, {duration(2 * DEMO_S)} analysed")


def test_rotated_parts_are_read_in_time_order_whatever_the_order_given(tmp_path, capsys, tiny_model_path):
    log = tmp_path / "s.jsonl"
    demo(tiny_model_path, log, "--log-max-mb", "0.008")  # parts of 8 KiB: s.jsonl, s.jsonl.1, …
    capsys.readouterr()
    parts = [log, *sorted(tmp_path.glob("s.jsonl.*"))]
    assert len(parts) >= 3
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(part.read_text() for part in reversed(parts)))
    expected = report(capsys, whole, "--png", tmp_path / "w.png")
    assert header(expected).startswith(f"1 session, 57 windows, {duration(DEMO_S)} analysed")
    for order in (parts, parts[::-1], parts[1:] + parts[:1]):  # as `log.jsonl*` expands: newest first
        out = report(capsys, *order, "--png", tmp_path / "t.png")
        assert out.replace("t.png", "w.png") == expected


def test_a_fast_demo_puts_no_more_speech_in_a_period_than_it_holds(tmp_path, capsys, tiny_model_path):
    """At 40 times real time a 30 s demo takes under a second of clock time: its
    periods are of audio time, so a 10 s period holds at most 10 s of speech."""
    log = tmp_path / "fast.jsonl"
    demo(tiny_model_path, log)
    capsys.readouterr()
    out = report(capsys, log, "--period", "10", "--png", tmp_path / "t.png")
    periods = out[out.index("dominant emotion per 10.0 s"):]
    rows = re.findall(r"^│ (\S+ s)\s+│ \S+\s+│ [\d%]*\s+│ ([\d.]+) s", periods, re.M)
    assert [start for start, _ in rows] == ["0.0 s", "10.0 s", "20.0 s"]
    assert all(float(speech) <= 10 for _, speech in rows)


def test_clock_time_and_audio_time_are_never_added(two_sessions, tmp_path, capsys, tiny_model_path):
    """A live log and `file --json` output in one report: each recording is a
    session of its own without a clock, nothing is dated 1970."""
    output = tmp_path / "file.jsonl"
    assert main(["file", "--json", "--model", str(tiny_model_path), str(SAMPLES / "1058_IWL_ANG_XX.flac")]) == EXIT_OK
    output.write_text(capsys.readouterr().out)
    out = report(capsys, output, two_sessions, "--png", tmp_path / "t.png")
    assert header(out).startswith(f"3 sessions, 117 windows, {duration(2 * DEMO_S + 3)} analysed")
    assert "1 without a clock (recordings of `file --json` output" in header(out)
    assert "1969" not in out and "1970" not in out
    sessions = sessions_table(out).splitlines()
    # Live sessions first, in the order they began; the recording after them, without a time.
    assert [line[:5] for line in sessions if line.startswith("│")] == ["│ 1 │", "│ 2 │", "│ 3 │"]
    assert re.match(r"│ 3 │\s+│\s+│ \S", sessions[-2])
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "\n".join(sessions))) == 2


def test_impossible_values_are_left_out_with_a_note_naming_the_first(two_sessions, tmp_path, capsys):
    lines = two_sessions.read_text().splitlines()[:59]  # the first session
    window = json.loads(lines[5])
    lines[5] = json.dumps({**window, "end": 1e10})
    lines[6] = json.dumps({**window, "time": 1e10 * 10})
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines) + "\n")
    out = report(capsys, damaged, "--png", tmp_path / "t.png")
    assert header(out).startswith("1 session, 55 windows")
    assert (f"2 record(s) with impossible values left out (the first: {damaged} line 6: start 2 s and end 1e+10 s "
            "are no window of a session under ten years)") in header(out)
    assert "166666667" not in out

    only = tmp_path / "only.jsonl"
    only.write_text(lines[5] + "\n")
    assert main(["report", str(only)]) == EXIT_INPUT
    assert capsys.readouterr().err == (f"livesense: {only}: no usable window records found (1 with impossible values; "
                                       f"the first: {only} line 1: start 2 s and end 1e+10 s are no window of a "
                                       "session under ten years); is this a livesense log?\n")


def test_a_line_over_a_mebibyte_is_refused_without_reading_the_rest(two_sessions, tmp_path, capsys):
    long = tmp_path / "long.jsonl"
    lines = two_sessions.read_text().splitlines()
    long.write_text("\n".join(lines[:10] + ["x" * (3 * 2**20)] + lines[10:]) + "\n")
    assert main(["report", str(long), "--png", str(tmp_path / "t.png")]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.err == (f"livesense: {long}: line 11 is longer than 1 MiB, which no livesense record is; the rest "
                            "of the file is not read: is this a livesense log?\n")
    assert header(captured.out).startswith("1 session, 9 windows")  # what came before it is reported


def test_a_2_gb_file_without_a_newline_is_refused_in_bounded_memory(tmp_path):
    """Read whole, the file would need over 4 GB; under a 1.5 GB address-space
    limit the report must still end with its one-line error."""
    huge = tmp_path / "huge.jsonl"
    with open(huge, "wb") as f:
        f.truncate(2 * 2**30)  # sparse: no disk used
    result = subprocess.run(["bash", "-c", 'ulimit -v 1500000; exec "$0" -m livesense report "$1"',
                             sys.executable, str(huge)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_INPUT, result.stderr
    assert result.stderr.splitlines() == [
        f"livesense: {huge}: line 1 is longer than 1 MiB, which no livesense record is; the rest of the file is not "
        "read: is this a livesense log?"]
