"""Memory over a long session, run in its own process by ``bench/run.py``:

    python bench/longrun.py MODEL.onnx LOG --hours 8

Hours of audio (real speech with pauses, looped) go through a live
:class:`~livesense.session.Session` as fast as it will take them, with a
session log, the way ``livesense listen --log`` runs. Prints one JSON object:
RSS in MB at the marks (after the first minute of audio, after 1/8 of the
audio, i.e. 1 h of 8, and at the end) and the wall time taken.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.speech import SAMPLE_RATE, build_speech, with_pauses  # noqa: E402
from livesense.recognizer import Recognizer  # noqa: E402
from livesense.session import Session  # noqa: E402
from livesense.session_log import SessionLog  # noqa: E402

BLOCK_S = 0.1  # the microphone's block length (capture.BLOCK_S)
WARM_S = 60.0  # first mark: after this much audio, ONNX Runtime's and NumPy's one-time allocations are done


def rss_mb() -> float:
    """Resident set size of this process now, MB (from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class LoopSource:
    """A live source that repeats ``audio`` for ``seconds`` without waiting, and
    notes RSS when the stream passes each of ``marks`` (seconds of audio)."""

    name = "benchmark loop"
    overflows = 0

    def __init__(self, audio, seconds: float, marks: list[float]):
        self.audio, self.total = audio, int(seconds * SAMPLE_RATE)
        self.marks = sorted(int(m * SAMPLE_RATE) for m in marks)
        self.rss: list[float] = []

    def blocks(self, stop):
        step, fed = int(BLOCK_S * SAMPLE_RATE), 0
        while fed < self.total and not stop.is_set():
            pos = fed % len(self.audio)
            block = self.audio[pos : pos + min(step, self.total - fed)]
            fed += len(block)
            while self.marks and fed >= self.marks[0]:
                self.marks.pop(0)
                self.rss.append(rss_mb())
            yield block, time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("log")
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args()
    seconds = args.hours * 3600
    audio = with_pauses(build_speech(120))
    source = LoopSource(audio, seconds, [min(WARM_S, seconds / 8), seconds / 8, seconds])
    began = time.monotonic()
    log = SessionLog(args.log)
    summary = Session(Recognizer(args.model), source, log=log).run()
    print(json.dumps({"audio_s": summary.duration_s, "rss_mb": source.rss, "wall_s": time.monotonic() - began,
                      "log_lines": log.lines, "log_error": log.error}))


if __name__ == "__main__":
    main()
