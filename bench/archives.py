"""Archive figures (issue 18), measured in one run with the default model: `livesense
file --jobs 2` against `--jobs 1`, `batch` on a local Dask cluster of two worker
processes against `batch --jobs 2`, a `batch` stopped halfway and rerun, and whether
every parallel result is identical to `--jobs 1`'s.

Every command runs as a user runs it (:func:`~bench.commands.run_livesense`) on
corpus clips linked into a temporary folder; Dask runs against a cluster started
here and warmed up first (its workers import livesense on their first task, once
per cluster).
"""
from __future__ import annotations

import json
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .commands import livesense_command, run_livesense
from .speech import corpus_clips

JOBS_CLIPS = 200  # the figure: `--jobs 2` over `--jobs 1` on 200 clips


@dataclass
class ArchiveFigures:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # figure, value, target, met

    def add(self, label: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append((label, value, target, "" if met is None else "yes" if met else "NO"))

    def markdown(self) -> str:
        lines = ["| figure | value | target | met |", "| --- | --- | --- | --- |"]
        return "\n".join(lines + [f"| {' | '.join(row)} |" for row in self.rows])


def _linked(clips: list[Path], folder: Path) -> Path:
    folder.mkdir()
    for clip in clips:
        (folder / f"{clip.parent.name}_{clip.name}").symlink_to(clip)
    return folder


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def measure_archives(tmp: Path, short_clip: Path, repeats: int, big_clips: int,
                     jobs_clips: int = JOBS_CLIPS) -> ArchiveFigures:
    """``repeats`` timed runs of each command (the best counts); ``jobs_clips`` clips
    for `--jobs`, ``big_clips`` for the Dask comparison (an archive large enough that
    a cluster's fixed costs, connecting and scheduling, are not all there is)."""
    figures = ArchiveFigures()
    clips = corpus_clips()
    small = _linked(clips[:jobs_clips], tmp / "clips")
    big = _linked(clips[:big_clips], tmp / "archive")
    startup = statistics.median(run_livesense("file", "--json", str(short_clip)).wall_s for _ in range(3))

    print(f"file --jobs 1 / --jobs 2 on {jobs_clips} clips", flush=True)
    one = min((run_livesense("file", "--json", "--jobs", "1", str(small)) for _ in range(repeats)),
              key=lambda run: run.wall_s)
    two = min((run_livesense("file", "--json", "--jobs", "2", str(small)) for _ in range(repeats)),
              key=lambda run: run.wall_s)
    audio_s = sum(record["duration_s"] for record in map(json.loads, one.stdout.splitlines())
                  if record["type"] == "verdict")
    figures.add(f"`file --json --jobs 1`, {jobs_clips} clips ({audio_s / 60:.1f} min), start-up subtracted",
                f"{audio_s / (one.wall_s - startup):,.0f}× ({one.wall_s:.2f} s end to end)")
    figures.add("`file --json --jobs 2`, same clips, start-up subtracted",
                f"{audio_s / (two.wall_s - startup):,.0f}× ({two.wall_s:.2f} s end to end)")
    ratio = (one.wall_s - startup) / (two.wall_s - startup)
    figures.add("`--jobs 2` over `--jobs 1`, start-up subtracted (end to end)",
                f"{ratio:.2f}× ({one.wall_s / two.wall_s:.2f}×)", "≥ 1.8×", ratio >= 1.8)
    figures.add("`file --jobs 2` output identical to `--jobs 1` (bytes)", str(two.stdout == one.stdout), "True",
                two.stdout == one.stdout)

    print(f"batch --jobs 1 / --jobs 2 / Dask (2 workers) on {big_clips} clips", flush=True)
    reference = tmp / "jobs1.jsonl"
    run_livesense("batch", str(big), "--out", str(reference))
    one_clip = _linked(clips[:1], tmp / "one")
    jobs2 = _best_batch(tmp, big, repeats, "--jobs", "2")
    jobs2_startup = _best_batch(tmp, one_clip, repeats, "--jobs", "2")[0]
    big_audio_s = sum(row["end_s"] for row in _rows(reference) if row["type"] == "file")
    figures.add(f"`batch --jobs 2`, {big_clips} clips ({big_audio_s / 60:.0f} min), start-up subtracted",
                f"{big_audio_s / (jobs2[0] - jobs2_startup):,.0f}× ({jobs2[0]:.2f} s end to end, "
                f"{jobs2_startup:.2f} s on one clip)")
    try:
        from distributed import LocalCluster
    except ImportError:
        figures.add("`batch --scheduler` on a local Dask cluster", "not measured: the [cluster] extra is not installed")
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            where = ("--scheduler", cluster.scheduler_address)
            run_livesense("batch", str(small), "--out", str(tmp / "warm.jsonl"), *where)
            dask = _best_batch(tmp, big, repeats, *where)
            dask_startup = _best_batch(tmp, one_clip, repeats, *where)[0]
        figures.add("`batch --scheduler` on a local Dask cluster (2 worker processes), same clips, start-up "
                    "(importing Dask, connecting) subtracted",
                    f"{big_audio_s / (dask[0] - dask_startup):,.0f}× ({dask[0]:.2f} s end to end, "
                    f"{dask_startup:.2f} s on one clip)")
        ratio = (jobs2[0] - jobs2_startup) / (dask[0] - dask_startup)
        figures.add("Dask over `--jobs 2`, start-up subtracted (end to end)", f"{ratio:.2f}× ({jobs2[0] / dask[0]:.2f}×)",
                    "≥ 0.9×", ratio >= 0.9)
        same = _rows(reference) == jobs2[1] == dask[1]
        figures.add("`batch --jobs 2` and Dask rows identical to `batch --jobs 1`'s", str(same), "True", same)

    print("batch stopped halfway and rerun", flush=True)
    twice, missing = _stopped_and_rerun(tmp / "stopped.jsonl", small)
    figures.add(f"`batch` of {jobs_clips} clips stopped halfway (Ctrl-C) and rerun: files analysed twice, missing",
                f"{twice}, {missing}", "0, 0", twice == missing == 0)
    return figures


def _best_batch(tmp: Path, folder: Path, repeats: int, *where: str) -> tuple[float, list[dict]]:
    """Best wall time of ``batch`` into a new output, and that output's rows."""
    best = None
    for attempt in range(repeats):
        out = tmp / f"batch-{folder.name}-{where[0].strip('-')}-{attempt}.jsonl"
        run = run_livesense("batch", str(folder), "--out", str(out), *where)
        best = min(best or run.wall_s, run.wall_s)
    return best, _rows(out)


def _stopped_and_rerun(out: Path, folder: Path) -> tuple[int, int]:
    """Files analysed twice and files missing when `batch --jobs 2`, stopped with
    Ctrl-C once half the files are written, is run again."""
    total = len(list(folder.iterdir()))
    proc = subprocess.Popen(livesense_command() + ["batch", str(folder), "--out", str(out), "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and (not out.exists() or _files_written(out) < total // 2):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    proc.communicate()
    before = _files_written(out)
    rerun = run_livesense("batch", str(folder), "--out", str(out)).stderr
    analysed = int(rerun.split(" files analysed")[0].split()[-1]) if " files analysed" in rerun else 0
    files = [row["path"] for row in _rows(out) if row["type"] == "file"]
    distinct = len(set(files))
    return before + analysed - distinct + (len(files) - distinct), total - distinct


def _files_written(out: Path) -> int:
    return sum(1 for line in out.read_text().splitlines() if line.endswith("}") and '"type": "file"' in line)
