"""The one rule for every file livesense writes (profile, session log, timeline PNG),
and the strict JSON encoder of its output and logs (:func:`json_line`).

A path livesense writes to must be a regular file or not exist yet, and must not
be any file the command reads (its recording, model, profile or logs), whatever
name reaches it: a symlink or a hard link to an input is the input. A file that
is replaced is written beside the target and renamed over it, so a failed write
(disk full) leaves the old one whole; a log is appended to in place.

Anything else is refused with :class:`OutputError` before a byte is written: a
rename would replace a symlink, a FIFO or a device node with a regular file,
and a write to an input destroys what the user asked us to read.
"""
from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

# What a path that is not a regular file is, as an error message names it.
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class OutputError(Exception):
    """A path livesense must not write to; the message names it and says why."""


class NotFiniteError(ValueError):
    """A record to write as JSON holds NaN or an infinity, which JSON cannot
    hold; the message names the record and the field."""


# Built once: json.dumps with options builds an encoder per call, a tenth of the
# cost of a `file --json` line.
_SPACED = json.JSONEncoder(allow_nan=False)
_COMPACT = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def json_line(record: dict, what: str, compact: bool = False) -> str:
    """``record`` as one line of strict JSON, newline included (``compact``:
    without spaces, as in session logs). Python's encoder would write bare
    ``NaN``/``Infinity``, which no JSON reader accepts; this refuses them.

    Raises:
        NotFiniteError: a value is NaN or infinite; ``what`` (such as "x.wav:
            window 2.0-4.0 s") begins the message, which names the field.
    """
    try:
        return (_COMPACT if compact else _SPACED).encode(record) + "\n"
    except ValueError:
        check_finite(record, what, "JSON cannot hold")
        raise


def check_finite(record: dict, what: str, why: str = "no output can show") -> None:
    """Raise NotFiniteError, naming ``what`` and the field, if a value inside
    ``record`` is NaN or infinite: a broken model or profile, which every output
    format (JSON, CSV, tables) refuses alike rather than print "nan%"."""
    for field, value in _non_finite(record):
        raise NotFiniteError(f"{what}: {field} is {value}, which {why}, so it is not written; "
                             "check the model (--model) and profile (--profile), or report a bug")


def _non_finite(value, name: str = "") -> Iterator[tuple[str, float]]:
    """(dotted field name, value) of every NaN or infinity inside ``value``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{name}[{index}]")


def check_output_path(path: str | Path, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse ``path`` unless it is absent or a regular file that is none of ``inputs``.

    Raises:
        OutputError: ``path`` is a symlink (refused rather than followed: where
            it leads is not what the user named), a directory, FIFO, device
            node or socket, or the same file as one of ``inputs``.
    """
    try:
        target = os.lstat(path)
    except (OSError, ValueError):
        return  # absent, or unreachable (a folder without +x): the write itself says why
    for is_kind, kind in _KINDS:
        if is_kind(target.st_mode):
            raise OutputError(f"{path}: is {kind}, not a regular file; livesense writes only regular files, "
                              "give another path")
    for given in inputs:
        try:
            source = os.stat(given)  # through symlinks: a link to the output is the output
        except (OSError, ValueError):
            continue  # an input that cannot be reached cannot be overwritten either
        if (source.st_dev, source.st_ino) == (target.st_dev, target.st_ino):
            same = "" if os.fspath(given) == os.fspath(path) else f" (as {given})"
            raise OutputError(f"{path}: is also an input of this command{same}; writing it would destroy it, "
                              "give another path")


@contextmanager
def replacing(path: str | Path, inputs: Iterable[str | Path] = ()) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content to; it replaces ``path``
    (atomically, by rename) once the block ends without an error.

    Raises:
        OutputError: see :func:`check_output_path`.
        OSError: the file cannot be written; ``path`` is then as it was.
    """
    path = Path(path)
    check_output_path(path, inputs)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # O_EXCL: never through whatever already has the temporary's name.
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            yield file
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def open_for_append(path: str | Path, inputs: Iterable[str | Path] = ()) -> TextIO:
    """``path`` opened to append UTF-8 text, created if absent.

    Raises:
        OutputError: see :func:`check_output_path`.
        OSError: it cannot be opened.
    """
    check_output_path(path, inputs)
    return open(path, "a", encoding="utf-8")
