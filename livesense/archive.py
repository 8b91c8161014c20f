"""``livesense batch``: an archive's results as one table, in Parquet or JSON
lines, that a rerun completes rather than repeats.

Rows (:func:`rows`): one per analysis window (``type`` "window": times, speech
share, level, the smoothed label and probabilities ``p_<label>``, the raw ones
``raw_<label>``) and one per file (``type`` "file": its verdict, speech and
duration, window count, and the error that ended it early, if any). Every row
names its file by absolute path, size and modification time (:class:`FileKey`).
The run's model (name, file, version = the first 16 hex digits of the ONNX
file's SHA-256), profile, options and livesense version are the file's metadata
(Parquet schema metadata under ``livesense``; the first line of JSON lines).

Resuming: a file is done once its file row is in the output. A rerun skips
every file whose path, size and modification time match a file row, and
analyses the rest; a file changed since is analysed again and its old rows are
dropped. A rerun with another model, profile or options is refused.
A file that gives no audio at all (it cannot be opened, or holds no samples)
gets no row: it is tried again next time.

Writing: JSON lines are appended a whole file's rows at a time; a line cut by
a crash is dropped by the next run. Parquet cannot be appended to, so finished
files go to parts beside it (``<out>.parts/``, each written whole, then renamed
into place, when a file finishes a second or more after the last part) that the
end of the run, Ctrl-C and SIGTERM included, merges into the output; parts left
by a run that was killed are merged by the next one (see :class:`ParquetResults`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .writing import check_finite, check_output_path, json_line, open_for_append, replacing

# The CLI imports this module's error for every command: the engine only where used.
if TYPE_CHECKING:
    from .engine import WindowResult
    from .parallel import FileResult

FORMAT = "livesense-batch-1"
METADATA_KEY = b"livesense"
EXTENSIONS = (".parquet", ".jsonl")
# A Parquet part is written when a file finishes this long (seconds) or more after
# the last part: a killed run loses the files finished since then.
PART_INTERVAL_S = 1.0


class ResultsError(Exception):
    """An output that cannot be used: another format, unreadable, or made with
    another model, profile or options; the message says which and what to do."""


@dataclass(frozen=True)
class FileKey:
    """A file as the results know it: absolute path, size in bytes, modification
    time in nanoseconds. Another size or time is another file to analyse."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | Path) -> "FileKey":
        """Raises OSError where the file cannot be reached."""
        info = os.stat(path)
        return cls(os.path.abspath(path), info.st_size, info.st_mtime_ns)


def file_version(path: str | Path) -> str:
    """First 16 hex digits of the SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def run_metadata(model, profile: str | None, options: dict) -> dict:
    """What the results were made with: model (name, file, version, labels),
    profile (file, version), the analysis ``options`` and livesense's version.
    ``model``: the :class:`~livesense.model.EmotionModel` used."""
    from . import __version__

    return {
        "format": FORMAT, "livesense": __version__,
        "model": model.info.name, "model_file": str(model.path), "model_version": file_version(model.path),
        "labels": list(model.labels),
        "profile": os.path.abspath(profile) if profile else None,
        "profile_version": file_version(profile) if profile else None,
        "options": options,
    }


def _same_run(found: dict, wanted: dict) -> str | None:
    """Why results with metadata ``found`` cannot take rows made with ``wanted``, or None.
    File locations may differ (a model moved); versions, labels and options may not."""
    for field in ("format", "livesense", "model_version", "labels", "profile_version", "options"):
        if found.get(field) != wanted.get(field):
            return f"they were made with {field} {found.get(field)!r}, this run has {wanted.get(field)!r}"
    return None


def rows(key: FileKey, result: FileResult, labels: list[str]) -> list[dict]:
    """The rows of one analysed file: each window's, then the file's."""
    from .summary import SessionSummary

    file = {"path": key.path, "size": key.size, "mtime_ns": key.mtime_ns}
    summary = SessionSummary()
    out = []
    for window in result.windows:
        summary.add(window.start_s, window.end_s, window.label, window.raw_probabilities)
        out.append({"type": "window", **file, **_window_columns(window, labels)})
    verdict = summary.verdict()
    out.append({"type": "file", **file, **_EMPTY_WINDOW, "start_s": 0.0, "end_s": verdict.duration_s,
                "speech": verdict.speech_s > 0, "label": verdict.label, "confidence": verdict.confidence,
                "speech_s": verdict.speech_s, "windows": len(result.windows), "error": result.error})
    return out


_EMPTY_WINDOW = {"speech_fraction": None, "level_dbfs": None, "raw_label": None}


def _window_columns(window: WindowResult, labels: list[str]) -> dict:
    smoothed, raw = window.probabilities or {}, window.raw_probabilities or {}
    return {
        "start_s": window.start_s, "end_s": window.end_s, "speech": window.is_speech,
        "speech_fraction": window.speech_fraction, "level_dbfs": window.level_dbfs,
        "label": window.label, "confidence": window.confidence, "raw_label": window.raw_label,
        **{f"p_{label}": smoothed.get(label) for label in labels},
        **{f"raw_{label}": raw.get(label) for label in labels},
        "speech_s": None, "windows": None, "error": None,
    }


def open_results(path: str | Path, metadata: dict, inputs: list[str]) -> "JsonlResults | ParquetResults":
    """The results file at ``path`` (``.jsonl`` or ``.parquet``), existing rows read.

    Raises:
        ResultsError: another extension, unreadable, or made by another run (see :func:`_same_run`).
        OutputError: a path livesense must not write (see :mod:`livesense.writing`).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ResultsError(f"{path}: results are written as Parquet or JSON lines; give an --out path ending in "
                           f"{' or '.join(EXTENSIONS)}")
    check_output_path(path, inputs)
    return (ParquetResults if suffix == ".parquet" else JsonlResults)(Path(path), metadata, inputs)


class _Results:
    """What both formats share: the done files (``done``: path -> :class:`FileKey`)
    and the rows of files analysed again, to drop (``stale``)."""

    def __init__(self, path: Path, metadata: dict, inputs: list[str]):
        self.path, self.metadata, self.inputs = path, metadata, inputs
        self.done: dict[str, FileKey] = {}

    def todo(self, keys: list[FileKey]) -> list[FileKey]:
        """Those of ``keys`` still to analyse; the rows of the files among them that
        changed since they were analysed will be dropped."""
        todo = [key for key in keys if self.done.get(key.path) != key]
        self._drop({key.path for key in todo if key.path in self.done})
        return todo

    def _check(self, found: dict | None, where: Path) -> None:
        if found is None:
            raise ResultsError(f"{where}: holds no livesense batch metadata; give another --out path")
        reason = _same_run(found, self.metadata)
        if reason:
            raise ResultsError(f"{where}: cannot add to these results: {reason}; give another --out path "
                               "or the same model, profile and options")

    def _done_row(self, row: dict) -> None:
        if row["type"] == "file":
            self.done[row["path"]] = FileKey(row["path"], row["size"], row["mtime_ns"])

    def _drop(self, paths: set[str]) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonlResults(_Results):
    """Results as JSON lines, appended a file at a time."""

    def __init__(self, path: Path, metadata: dict, inputs: list[str]):
        super().__init__(path, metadata, inputs)
        kept = self._read() if path.exists() and path.stat().st_size else None
        if kept is not None:  # a crash's cut lines (after the last file row) go
            with open(path, "r+b") as file:
                file.truncate(kept)
        self._file = open_for_append(path, inputs)
        if kept is None:
            self._file.write(json_line({"type": "meta", **metadata}, f"{path}: metadata"))
            self._file.flush()

    def _read(self) -> int:
        """Reads the done files; returns the byte length of the complete part
        (through the last file row)."""
        kept, position = 0, 0
        with open(self.path, "rb") as file:
            for number, line in enumerate(file):
                position += len(line)
                try:
                    row = json.loads(line)
                except ValueError:
                    break  # a line cut by a crash: the end of what was written
                if number == 0:
                    self._check(row if isinstance(row, dict) and row.get("type") == "meta" else None, self.path)
                    kept = position
                elif isinstance(row, dict) and row.get("type") == "file" and line.endswith(b"\n"):
                    self._done_row(row)
                    kept = position
        if kept == 0:
            self._check(None, self.path)
        return kept

    def _drop(self, paths: set[str]) -> None:
        if not paths:
            return
        self._file.close()
        with replacing(self.path, self.inputs) as out, open(self.path, "rb") as old:
            for line in old:
                if json.loads(line).get("path") not in paths:
                    out.write(line)
        for path in paths:
            del self.done[path]
        self._file = open_for_append(self.path, self.inputs)

    def add(self, rows: list[dict]) -> None:
        """Append one file's rows, in one write, flushed."""
        self._file.write("".join(json_line(row, f"{row['path']}: {row['type']} row") for row in rows))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ParquetResults(_Results):
    """Results as Parquet: parts while the run goes on, one file at its end.

    Each file's rows are kept from one source only, the last (in the order
    output, then parts by number) that holds its file row: the newest analysis
    of a file wins, also over sources that a killed run left behind, so merging
    twice or after a crash never puts a file in twice."""

    def __init__(self, path: Path, metadata: dict, inputs: list[str]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(path, metadata, inputs)
        labels = metadata["labels"]
        self.schema = pa.schema(
            [("type", pa.string()), ("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()),
             ("start_s", pa.float64()), ("end_s", pa.float64()), ("speech", pa.bool_()),
             ("speech_fraction", pa.float64()), ("level_dbfs", pa.float64()), ("label", pa.string()),
             ("confidence", pa.float64()), ("raw_label", pa.string())]
            + [(f"p_{label}", pa.float64()) for label in labels] + [(f"raw_{label}", pa.float64()) for label in labels]
            + [("speech_s", pa.float64()), ("windows", pa.int64()), ("error", pa.string())],
            metadata={METADATA_KEY: json.dumps(metadata)})
        self.parts = path.with_name(path.name + ".parts")
        self._winner: dict[str, Path] = {}  # path of an analysed file -> the source its rows are kept from
        for source in self._sources():
            self._check(self._metadata(source), source)
            for row in pq.read_table(source, columns=["type", "path", "size", "mtime_ns"]).to_pylist():
                if row["type"] == "file":
                    self._done_row(row)
                    self._winner[row["path"]] = source
        self._pending: list[dict] = []
        self._written = time.monotonic()
        self.parts.mkdir(exist_ok=True)

    def _sources(self) -> list[Path]:
        """The output and the parts, oldest first."""
        parts = sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []
        return ([self.path] if self.path.exists() else []) + parts

    @staticmethod
    def _metadata(source: Path) -> dict | None:
        import pyarrow.parquet as pq

        try:
            found = pq.read_schema(source).metadata or {}
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise ResultsError(f"{source}: not a Parquet file livesense can read ({err}); "
                               "give another --out path") from None
        return json.loads(found[METADATA_KEY]) if METADATA_KEY in found else None

    def _drop(self, paths: set[str]) -> None:
        # Their new rows go to a part, which wins over the old ones (see the class).
        for path in paths:
            del self.done[path]

    def add(self, rows: list[dict]) -> None:
        """Keep one file's rows; written as a part once :data:`PART_INTERVAL_S` has
        passed since the last part."""
        check_finite({"rows": rows}, f"{rows[-1]['path']}")  # as JSON lines refuse NaN and infinity
        self._pending += rows
        if time.monotonic() - self._written >= PART_INTERVAL_S:
            self._write_part()

    def _write_part(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._written = time.monotonic()
        if not self._pending:
            return
        numbers = [int(part.stem.split("-")[1]) for part in self.parts.glob("part-*.parquet")]
        part = self.parts / f"part-{max(numbers, default=-1) + 1:06d}.parquet"
        temporary = self.parts / f".{part.name}.tmp"
        rows, self._pending = self._pending, []  # taken first: a part is never written twice
        pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), temporary)
        os.replace(temporary, part)
        for row in rows:
            if row["type"] == "file":
                self._winner[row["path"]] = part

    def close(self) -> None:
        """Write what waits, then merge the output and its parts into the output
        (each file's rows from its newest source) and remove the parts."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self._write_part()
        sources = self._sources()
        if sources != [self.path]:
            with replacing(self.path, self.inputs) as out, pq.ParquetWriter(out, self.schema) as writer:
                for source in sources:
                    kept = pa.array([path for path, winner in self._winner.items() if winner == source], pa.string())
                    for batch in pq.ParquetFile(source).iter_batches():
                        table = pa.Table.from_batches([batch]).cast(self.schema)
                        writer.write_table(table.filter(pc.is_in(table["path"], value_set=kept)))
        shutil.rmtree(self.parts, ignore_errors=True)  # left behind, they would only be merged again
