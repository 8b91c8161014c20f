"""Files analysed elsewhere than in the command's own process: in worker processes
(``livesense file --jobs N``, ``livesense batch --jobs N``) or on a Dask cluster
(``livesense batch --scheduler ADDRESS``).

Each worker loads the model once (:func:`_recognizer`) and analyses whole files,
one at a time, with the same engine as ``--jobs 1`` (:func:`analyse_file`). A
file's windows and any error come back as data (:class:`FileResult`); the command
replays them through the same output code as the files it analyses itself, in
input order, so the output does not depend on how many workers ran.
"""
from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .audio import AudioError

if TYPE_CHECKING:  # the CLI imports this module's error for every command: the engine only where used
    from .engine import WindowResult


@dataclass(frozen=True)
class AnalysisOptions:
    """What a worker needs to build the same recognizer as the command: the model
    (a shipped name or a path) and the profile (a path or None). Paths must be
    reachable from the workers (on a cluster: a shared file system)."""

    model: str | None = None  # None: the default model
    profile: str | None = None


@dataclass
class FileResult:
    """Every window of one file, and the error that ended it early, if any
    (an :class:`~livesense.audio.AudioError`'s message: unreadable, or damaged
    after ``windows``)."""

    path: str
    windows: list[WindowResult] = field(default_factory=list)
    error: str | None = None

    def replay(self) -> Iterator[WindowResult]:
        """The windows, then the error raised as :class:`AudioError`: what
        :meth:`~livesense.recognizer.Recognizer.stream_file` gives in-process."""
        yield from self.windows
        if self.error is not None:
            raise AudioError(self.error)


@functools.lru_cache(maxsize=1)
def _recognizer(options: AnalysisOptions):
    """The process's recognizer: a worker loads the model once, for all its files."""
    from .recognizer import Recognizer

    _large_arrays_from_the_heap()
    return Recognizer(options.model, options.profile)


# glibc's largest automatic mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX),
# and the trim threshold it sets beside it (twice that); mallopt's parameter numbers.
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 * 2**20, 64 * 2**20
_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD = -3, -1


def _large_arrays_from_the_heap() -> None:
    """Undo what a Dask worker's environment does to the analysis's memory.

    Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``: the heap
    is given back to the system whenever 64 KiB at its top are free, and glibc no
    longer raises its mmap threshold (128 KiB) as a program frees large blocks. So
    every array of a group of windows or a block of VAD input is fresh pages from
    the system again and again, and the same files took 1.5 times as long. This
    sets both thresholds where glibc would have taken them itself, in the process
    that analyses files only, and only under that variable. Elsewhere (no such
    variable, or not glibc) nothing changes.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def analyse_file(path: str, options: AnalysisOptions) -> FileResult:
    """Analyse one file with ``options``' model (loaded once per process)."""
    result = FileResult(path)
    try:
        for window in _recognizer(options).stream_file(path):
            result.windows.append(window)
    except AudioError as err:
        result.error = str(err)
    return result


def analyse_files(paths: list[str], options: AnalysisOptions) -> list[FileResult]:
    """:func:`analyse_file` of each of ``paths``: one task."""
    return [analyse_file(path, options) for path in paths]


# A task analyses consecutive files up to so many bytes (or one larger file) and
# so many files. A cluster's scheduler spends milliseconds on each task, as much as
# a 3 s clip's analysis; a local worker process costs its parent half a millisecond
# of CPU per task (the pool's threads and pipes), a fifth of the time of a clip.
CLUSTER_TASK = (2 * 2**20, 64)
PROCESS_TASK = (256 * 2**10, 16)


# Tasks per worker, at least, where there are files enough: the last task's worker
# runs alone while the others wait, so a task is kept to a small share of each worker's time.
TASKS_PER_WORKER = 8


def _groups(paths: list[str], limits: tuple[int, int], workers: int) -> Iterator[list[str]]:
    """``paths`` in consecutive groups of at most ``limits`` (bytes, but at least one
    file; files), and of few enough files that each of ``workers`` gets
    :data:`TASKS_PER_WORKER` groups."""
    max_bytes, max_files = limits
    max_files = max(1, min(max_files, len(paths) // (TASKS_PER_WORKER * workers)))
    group, size = [], 0
    for path in paths:
        try:
            bytes_ = os.stat(path).st_size
        except OSError:
            bytes_ = 0  # the worker's open says why
        if group and (size + bytes_ > max_bytes or len(group) == max_files):
            yield group
            group, size = [], 0
        group.append(path)
        size += bytes_
    if group:
        yield group


def cpu_count() -> int:
    """Cores this process may run on (``--jobs 0``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_signals() -> None:
    """A worker leaves Ctrl-C (sent to the whole terminal's process group) and
    SIGTERM to the command, which stops the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class WorkerDied(Exception):
    """A worker process ended without a result (killed, out of memory, or a crash in
    a native decoder); the message names the files it had."""


class _Workers:
    """Files analysed by workers, results in input order; a context manager. A task
    analyses one or more consecutive files; subclasses submit tasks, say whether one
    is done, give its results and stop the workers."""

    def __init__(self, options: AnalysisOptions):
        self.options = options
        self._tasks: list = []
        self._next = 0  # the first task whose results have not been handed out
        self._current: deque[FileResult] = deque()  # its results, not yet all handed out

    def results(self, paths: list[str]) -> Iterator[FileResult]:
        """:class:`FileResult` of each of ``paths``, in their order, each as soon
        as its task and those before it are done. Should the command be
        interrupted (Ctrl-C, SIGTERM), :meth:`finished` has the results it did not get yet.

        Raises:
            WorkerDied: a worker process ended without the results of its task.
        """
        self._tasks, self._next = self._submit(paths), 0
        while self._next < len(self._tasks):
            self._current.extend(self._results(self._tasks[self._next]))
            self._next += 1
            while self._current:
                yield self._current.popleft()

    def finished(self) -> list[FileResult]:
        """Stops the workers; the results finished by then that :meth:`results`
        has not handed out, in input order (files still running left out)."""
        done = [self._results(task) for task in self._tasks[self._next :] if self._done(task)]
        self._stop()
        self._next = len(self._tasks)
        kept = list(self._current) + [result for results in done for result in results]
        self._current.clear()
        return kept

    def _submit(self, paths: list[str]) -> list:
        raise NotImplementedError

    def _done(self, task) -> bool:
        raise NotImplementedError

    def _results(self, task) -> list[FileResult]:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class InProcess(_Workers):
    """No workers: each file analysed here when its result is asked for."""

    def _submit(self, paths: list[str]) -> list:
        return paths

    def _done(self, task) -> bool:
        return False

    def _results(self, task) -> list[FileResult]:
        return [analyse_file(task, self.options)]

    def _stop(self) -> None:
        pass


class ProcessWorkers(_Workers):
    """``jobs`` worker processes on this machine (forked where the system can,
    so that they start with livesense already imported)."""

    def __init__(self, options: AnalysisOptions, jobs: int):
        super().__init__(options)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.jobs = jobs
        self._pool = ProcessPoolExecutor(jobs, multiprocessing.get_context(method), initializer=_worker_signals)

    def _submit(self, paths: list[str]) -> list:
        return [(group, self._pool.submit(analyse_files, group, self.options))
                for group in _groups(paths, PROCESS_TASK, self.jobs)]

    def _done(self, task) -> bool:
        return task[1].done() and task[1].exception() is None

    def _results(self, task) -> list[FileResult]:
        group, future = task
        try:
            return future.result()
        except BrokenProcessPool:
            raise WorkerDied(f"a worker process died while analysing {_names(group)} (a crash in a decoder, or "
                             "killed); analyse them with --jobs 1 to find the file") from None

    def _stop(self) -> None:
        # Running tasks cannot be cancelled: their processes are ended (Python 3.14
        # has terminate_workers() for it; before, the pool's own list of them).
        if hasattr(self._pool, "terminate_workers"):
            self._pool.terminate_workers()
            return
        processes = list((self._pool._processes or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            self._stop()
        self._pool.shutdown(wait=True)


def _names(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else f"one of {len(paths)} files from {paths[0]} to {paths[-1]}"


class ClusterUnavailable(Exception):
    """``--scheduler`` without the ``[cluster]`` extra, or a scheduler that cannot be reached."""


class DaskWorkers(_Workers):
    """The workers of an existing Dask cluster, reached through its scheduler's
    ``address`` (``tcp://host:8786``)."""

    def __init__(self, options: AnalysisOptions, address: str, timeout_s: float = 30.0):
        super().__init__(options)
        try:
            from distributed import Client
        except ImportError:
            raise ClusterUnavailable("--scheduler needs Dask's distributed scheduler: "
                                     "pip install 'livesense[cluster]'") from None
        try:
            self._client = Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address} ({err}); "
                                     "check the address and that the scheduler runs") from None

    def _submit(self, paths: list[str]) -> list:
        workers = max(1, sum(self._client.nthreads().values()))
        return self._client.map(analyse_files, list(_groups(paths, CLUSTER_TASK, workers)), options=self.options,
                                pure=False)

    def _done(self, task) -> bool:
        return task.status == "finished"

    def _results(self, task) -> list[FileResult]:
        return task.result()

    def _stop(self) -> None:
        self._client.cancel([task for task in self._tasks[self._next :] if task.status != "finished"])

    def __exit__(self, *exc) -> None:
        self._client.close()
