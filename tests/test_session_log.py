"""Session logs: flushed JSON lines, rotation, cut-off lines, full disks, unwritable paths."""
from __future__ import annotations

import json
import os
import resource

import pytest

from livesense.session_log import LogError, LogReader, SessionLog
from livesense.writing import OutputError


def record(i: int) -> dict:
    return {"type": "window", "start": i * 0.5, "end": i * 0.5 + 2, "label": "happy"}


def test_each_record_is_on_disk_as_soon_as_written(tmp_path):
    log = SessionLog(tmp_path / "s.jsonl")
    for i in range(3):
        assert log.write(record(i))
        # Read back through another file object: nothing waits in a buffer.
        assert len((tmp_path / "s.jsonl").read_text().splitlines()) == i + 1
    log.close()


def test_reader_skips_a_line_cut_mid_write_and_appending_starts_a_new_line(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLog(path)
    for i in range(4):
        log.write(record(i))
    log.close()
    with open(path, "a") as f:
        f.write(json.dumps(record(4))[:25])  # what a SIGKILL mid-write leaves
    reader = LogReader(path)
    assert [r["start"] for r in reader] == [0, 0.5, 1.0, 1.5] and reader.skipped == 1

    log = SessionLog(path)  # the next session appends after the cut line
    log.write(record(9))
    log.close()
    reader = LogReader(path)
    assert [r["start"] for r in reader] == [0, 0.5, 1.0, 1.5, 4.5] and reader.skipped == 1


def test_rotation_by_size(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLog(path, max_bytes=300, backups=2)
    for i in range(30):
        assert log.write(record(i))
    log.close()
    sizes = [p.stat().st_size for p in (path, path.with_name("s.jsonl.1"), path.with_name("s.jsonl.2"))]
    assert all(0 < size <= 300 for size in sizes)
    assert not path.with_name("s.jsonl.3").exists()
    kept = [r["start"] for name in ("s.jsonl.2", "s.jsonl.1", "s.jsonl") for r in LogReader(tmp_path / name)]
    assert kept == sorted(kept) and kept[-1] == 29 * 0.5


def test_full_disk_stops_the_log_not_the_caller(tmp_path):
    """A file size limit of one byte stands in for a full disk (Python ignores
    SIGXFSZ: the write fails with EFBIG, as it would with ENOSPC)."""
    log = SessionLog(tmp_path / "s.jsonl")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    try:
        assert log.write(record(0)) is False
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert "File too large" in log.error and "goes on" in log.error
    assert log.write(record(1)) is False
    log.close({"type": "end"})


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs a device node")
def test_a_log_is_only_ever_a_regular_file():
    with pytest.raises(OutputError, match="/dev/full: is a character device, not a regular file"):
        SessionLog("/dev/full")


def test_unwritable_path_is_a_clear_error(tmp_path):
    with pytest.raises(LogError, match="no_such_dir.*cannot write log"):
        SessionLog(tmp_path / "no_such_dir" / "s.jsonl")
    with pytest.raises(OutputError, match="is a directory, not a regular file"):
        SessionLog(tmp_path)


def test_reading_a_missing_log_is_a_clear_error(tmp_path):
    with pytest.raises(LogError, match="no such log file"):
        list(LogReader(tmp_path / "absent.jsonl"))
