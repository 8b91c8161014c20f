"""Crash-safe session logs: JSON lines, one per window, flushed as written.

Each line is written with one ``write`` and flushed at once, so a crash, a
SIGKILL or a power cut loses at most the line being written; the reader skips
such a cut line. Files rotate by size (``log.jsonl`` → ``log.jsonl.1`` → …).
A write that fails (disk full, device gone) stops the log, never the session:
:attr:`SessionLog.error` then says why.

Record types (field ``type``): ``"session"`` when a session starts,
``"window"`` per analysis window (the fields of
:meth:`~livesense.engine.WindowResult.to_dict` plus ``time``, Unix seconds
when the result was produced) and ``"end"`` with the session's summary; every
record of a session carries its ``session`` id (see :mod:`livesense.session`).
Lines are strict JSON (no NaN, see :func:`~livesense.writing.json_line`) and
are read back at most :data:`MAX_LINE_BYTES` at a time.
"""
from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .writing import OutputError, json_line, open_for_append

DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_BACKUPS = 5
# A record is under a kilobyte; a longer line is no livesense log (a 2 GB file
# without a newline must not be read whole).
MAX_LINE_BYTES = 2**20


class LogError(Exception):
    """A log that cannot be opened or read; the message names the file."""


class SessionLog:
    """Appends records to ``path``.

    Args:
        max_bytes: rotate before a write would make the file larger than this.
        backups: rotated files kept (``path.1`` newest … ``path.N`` oldest).
        inputs: the files the session reads, which the log must not be.
    Raises:
        LogError: the file cannot be opened for appending.
        OutputError: ``path`` is no file to append to (see :mod:`livesense.writing`).
    """

    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS,
                 inputs: Iterable[str | Path] = ()):
        self.path = Path(path)
        self.inputs = tuple(inputs)
        self.max_bytes = max_bytes
        self.backups = backups
        self.error: str | None = None
        self.lines = 0
        try:
            self._open()
        except OSError as err:
            raise LogError(f"{self.path}: cannot write log ({err.strerror or err}); choose another --log path") from None

    def _open(self) -> None:
        self._file = open_for_append(self.path, self.inputs)
        self._size = os.fstat(self._file.fileno()).st_size
        if self._size and not _ends_with_newline(self.path):
            # A previous session was cut mid-line; start ours on a line of its own.
            self._write("\n")

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        self._size += len(text.encode("utf-8"))

    def write(self, record: dict) -> bool:
        """Append one record as a line; False once the log has stopped.

        Raises:
            NotFiniteError: the record holds NaN or an infinity (nothing is written).
        """
        if self.error is not None:
            return False
        line = json_line(record, f"log {self.path}: {record.get('type', 'record')} record", compact=True)
        try:
            if self._size and self._size + len(line) > self.max_bytes and self.path.is_file():
                self._rotate()
            self._write(line)
        except (OSError, OutputError) as err:  # OutputError: the path became a FIFO, a link… before a rotation
            self.error = f"log {self.path} stopped: {getattr(err, 'strerror', None) or err}; the session goes on without it"
            self._close_quietly()
            return False
        self.lines += 1
        return True

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        if self.backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._open()

    def _close_quietly(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # a full disk can fail the final flush too; the error is already recorded

    def close(self, record: dict | None = None) -> None:
        """Write an optional last record and close."""
        if record is not None:
            self.write(record)
        if self.error is None:
            self._close_quietly()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class LogReader:
    """Iterates the records of a log in constant memory, skipping lines that
    are not JSON objects (such as a last line cut off by a crash); ``skipped``
    counts them once iteration is done, ``line`` is the number of the line of
    the latest record (from 1).

    Raises (while iterating):
        LogError: missing or unreadable file, or a line longer than
            :data:`MAX_LINE_BYTES` (the records before it have been yielded).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped = 0
        self.line = 0

    def __iter__(self) -> Iterator[dict]:
        for self.line, line in _lines(self.path):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
                record = None
            if isinstance(record, dict):
                yield record
            else:
                self.skipped += 1


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(number from 1, text) of each line that is not blank, read at most
    :data:`MAX_LINE_BYTES` at a time."""
    try:
        with open(path, "rb") as f:
            for number in itertools.count(1):
                line = f.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                if len(line.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                    raise LogError(f"{path}: line {number} is longer than {MAX_LINE_BYTES // 2**20} MiB, which no "
                                   "livesense record is; the rest of the file is not read: is this a livesense log?")
                if line.strip():
                    yield number, line.decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise LogError(f"{path}: no such log file") from None
    except IsADirectoryError:
        raise LogError(f"{path}: is a directory, not a log file") from None
    except OSError as err:
        raise LogError(f"{path}: cannot read log ({err.strerror or err})") from None
