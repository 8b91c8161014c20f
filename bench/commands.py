"""``livesense`` run as a user runs it: the installed command in a new process."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # user + system time of the child process
    stdout: bytes
    stderr: str


def livesense_command() -> list[str]:
    """The ``livesense`` console script beside this Python, else ``python -m livesense``."""
    script = Path(sys.executable).with_name("livesense")
    if script.is_file():
        return [str(script)]
    found = shutil.which("livesense")
    return [found] if found else [sys.executable, "-m", "livesense"]


def run_livesense(*args: str) -> Run:
    """Run ``livesense ARGS`` to completion, output discarded after it is written
    to a pipe (rich renders the tables as for a redirected terminal)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(livesense_command() + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=os.environ.copy())
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"livesense {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, done.stdout, done.stderr.decode(errors="replace"))
