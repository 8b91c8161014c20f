"""Listen-mode cost: the engine fed small chunks at real-time pace, as from a microphone."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from livesense.engine import StreamEngine
from livesense.model import EmotionModel

from .speech import SAMPLE_RATE


@dataclass
class ListenCost:
    audio_s: float
    cpu_s: float  # process CPU time (all threads) while streaming
    wall_s: float
    latencies_s: np.ndarray  # per speech window: chunk with its last sample fed -> result back

    @property
    def cpu_ms_per_audio_s(self) -> float:
        return 1e3 * self.cpu_s / self.audio_s

    @property
    def core_share(self) -> float:
        """Share of one core, 0..1."""
        return self.cpu_s / self.wall_s

    def latency_ms(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_s, percentile) * 1e3) if len(self.latencies_s) else float("nan")


def listen_cost(model: EmotionModel, audio: np.ndarray, chunk_s: float) -> ListenCost:
    """Stream ``audio`` (float32, 16 kHz) through a fresh engine in ``chunk_s``
    chunks, each fed when its last sample would have been captured. Runs in the
    calling thread; ONNX Runtime with one intra-op thread computes there too,
    and process CPU time catches any other thread."""
    engine = StreamEngine(model)
    step = int(round(chunk_s * SAMPLE_RATE))
    latencies = []
    cpu_began, began = time.process_time(), time.monotonic()
    for pos in range(0, len(audio), step):
        wait = began + (pos + step) / SAMPLE_RATE - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        arrived = time.monotonic()
        results = engine.feed(audio[pos : pos + step])
        done = time.monotonic()
        latencies += [done - arrived for r in results if r.is_speech]
    cpu, wall = time.process_time() - cpu_began, time.monotonic() - began
    return ListenCost(len(audio) / SAMPLE_RATE, cpu, wall, np.array(latencies))
