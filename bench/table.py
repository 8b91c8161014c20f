"""The benchmark's results table: figures per model, targets, and whether each is met."""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    fmt: str  # format of one value, e.g. "{:.0f}×"
    target: tuple | None = None  # (operator, threshold, text), e.g. (operator.ge, 1000, "≥ 1000×")


FIGURES = [
    Figure("file_json", "`livesense file --json`, audio s per wall s (start-up subtracted)", "{:,.0f}×",
           (operator.ge, 1000, "≥ 1000×")),
    Figure("file", "`livesense file` (terminal table), start-up subtracted", "{:,.0f}×"),
    Figure("file_e2e", "`livesense file`, end to end incl. start-up", "{:,.0f}×"),
    Figure("file_cpu", "`livesense file`, CPU time / wall time (one thread ≈ 1)", "{:.2f}"),
    Figure("engine", "engine in-process, as in file mode (VAD, features, normalisation, ONNX, smoothing)", "{:,.0f}×"),
    Figure("floor", "floor: MFCC + ONNX alone, same windows (with a voice head, its encoder too)", "{:,.0f}×"),
    Figure("voice_ms", "voice head: GE2E encoder per speech window, groups of 8", "{:.1f} ms"),
    Figure("voice_of_floor", "of which the GE2E encoder, time / floor time", "{:.0%}"),
    Figure("keras", "Keras `predict` per clip (same features and windows)", "{:,.0f}×"),
    Figure("keras_batch", "Keras `predict`, one call for all windows", "{:,.0f}×"),
    Figure("librosa", "librosa.load + librosa MFCC + Keras `predict` per clip", "{:,.0f}×"),
    Figure("vs_keras", "engine vs Keras `predict` per clip, times faster", "{:.1f}×", (operator.ge, 10, "≥ 10×")),
    Figure("file_vs_keras", "`livesense file` vs Keras `predict` per clip, times faster", "{:.1f}×"),
    Figure("vs_keras_batch", "engine vs Keras one call, times faster", "{:.1f}×"),
    Figure("vs_librosa", "engine vs librosa + Keras, times faster", "{:.1f}×"),
    Figure("engine_over_floor", "engine time / floor time", "{:.2f}"),
    Figure("vad_of_floor", "of which WebRTC VAD alone (levelled input), time / floor time", "{:.0%}"),
    Figure("decode_of_floor", "of which reading the WAV alone, time / floor time", "{:.0%}"),
    Figure("file_json_of_floor", "`livesense file --json` speed (start-up subtracted) / floor speed", "{:.0%}",
           (operator.ge, 0.85, "≥ 85%")),
    Figure("listen_cpu", "listen (0.1 s blocks, as from the microphone): CPU ms per audio second", "{:.2f} ms"),
    Figure("listen_share", "listen (0.1 s blocks): share of one core", "{:.2f}%", (operator.le, 2, "≤ 2%")),
    Figure("latency_p50", "listen (0.1 s blocks): window end → result, p50", "{:.2f} ms"),
    Figure("latency_p95", "listen (0.1 s blocks): window end → result, p95", "{:.2f} ms", (operator.le, 20, "≤ 20 ms")),
    Figure("listen_share_small", "listen (20 ms chunks): share of one core", "{:.2f}%"),
    Figure("latency_p95_small", "listen (20 ms chunks): window end → result, p95", "{:.2f} ms"),
    Figure("startup_cold", "start-up: `livesense file` on a 3 s clip, first run", "{:.2f} s", (operator.le, 1.0, "≤ 1.0 s")),
    Figure("startup_warm", "start-up: same, median of warm runs", "{:.2f} s", (operator.le, 1.0, "≤ 1.0 s")),
    Figure("rss_start", "memory: RSS after the first minute of audio", "{:.1f} MB"),
    Figure("rss_1h", "memory: RSS after 1/8 of the audio (1 h of 8)", "{:.1f} MB"),
    Figure("rss_8h", "memory: RSS at the end (8 h)", "{:.1f} MB"),
    Figure("rss_growth", "memory: growth, first minute → end", "{:+.1f} MB", (operator.le, 5, "≤ 5 MB")),
    Figure("memory_wall", "memory run: wall time", "{:.1f} min"),
]


class Table:
    """Values by figure key and model; rows in :data:`FIGURES` order."""

    def __init__(self, archs: list[str]):
        self.archs = archs
        self.values: dict[tuple[str, str], float] = {}
        self.windows = 0  # speech windows classified
        self.memory_hours = 0.0

    def set(self, key: str, arch: str, value: float) -> None:
        self.values[key, arch] = float(value)

    def get(self, key: str, arch: str) -> float:
        return self.values.get((key, arch), math.nan)

    def _cell(self, figure: Figure, arch: str) -> str:
        value = self.values.get((figure.key, arch))
        if value is None:
            return "—"
        return "n/a" if math.isnan(value) else figure.fmt.format(value)

    def markdown(self) -> str:
        rows = [["figure", *self.archs, "target", "met"], ["---"] * (len(self.archs) + 3)]
        for figure in FIGURES:
            present = [a for a in self.archs if (figure.key, a) in self.values]
            if not present:
                continue
            cells = [self._cell(figure, a) for a in self.archs]
            met = ""
            if figure.target is not None:
                compare, threshold, _ = figure.target
                met = ", ".join(f"{a}: {'yes' if compare(self.values[figure.key, a], threshold) else 'NO'}"
                                for a in present if not math.isnan(self.values[figure.key, a]))
            rows.append([figure.label, *cells, figure.target[2] if figure.target else "", met])
        return "\n".join("| " + " | ".join(row) + " |" for row in rows)

    def notes(self, args) -> list[str]:
        return [
            "Notes:",
            "- Throughput is seconds of audio analysed per second of wall time (× real time), one thread "
            "throughout (ONNX Runtime 1 intra-op thread, TensorFlow 1 intra/inter-op thread, BLAS 1 thread); "
            f"best of {2 * args.repeats} runs for livesense's figures, {args.repeats} for the TensorFlow pipelines "
            "(each takes minutes).",
            "- `livesense file` runs as a user runs it (the installed command, default table output to a pipe) "
            "on a temporary WAV of the speech. Its start-up (≈ the 3 s clip's warm wall time) is subtracted for "
            "the throughput figure that the target applies to; the end-to-end figure includes it.",
            "- Keras rows: `compute_features` + speaker normalisation + `model.predict` on the windows the engine "
            "classifies, one call per source clip as the published design classifies a clip; TensorFlow's "
            "first-call tracing is excluded. The librosa row decodes each corpus file with `librosa.load` and "
            "computes `librosa.feature.mfcc` + `delta` per window (same frame, mel and MFCC sizes).",
            "- The floor computes the same windows' features the engine's way (each frame's spectrum once) and "
            "runs ONNX on them in groups of 8 as file mode does, nothing else. File mode and the in-process engine "
            "classify 8 speech windows per ONNX call; listen mode one at a time.",
            "- A model with a voice head (`livesense/voice.py`) also runs the GE2E encoder on each speech window's "
            "audio, in the engine and in its floor; the Keras and librosa rows run its emotion model alone, so "
            "its `vs` rows set livesense's whole work against part of it.",
            f"- Listen: {args.listen_seconds:g} s of continuous speech (every window classified, the costliest case) "
            "fed to the engine in blocks of 0.1 s (what `livesense listen` gets from the microphone), then again "
            "in 20 ms chunks, each when its last sample would have been captured; CPU is the process's CPU time "
            "over the streaming time, waking up included; latency runs from feeding the block that holds a "
            "window's last sample to the window's result.",
            "- Start-up: `livesense file` on a 3 s clip, wall time of the whole process. The first run is the "
            "benchmark's first start of the command (the OS file cache cannot be dropped here, so it is not a "
            "true cold start); warm is the median of the following runs.",
            f"- Memory: {self.memory_hours:g} h of audio (speech with pauses, looped) through a live `Session` "
            "with a session log, in its own process, as fast as it goes; RSS from /proc/self/status.",
        ]
