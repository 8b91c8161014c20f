"""livesense benchmark: speed, CPU, latency and memory against the Keras path it replaces.

    python bench/run.py                 # full run (about 10 min), writes bench/RESULTS.md
    python bench/run.py --smoke         # seconds-long run of every step, prints the table only

All figures come from one run on the same audio: real speech from CREMA-D and
RAVDESS concatenated in memory (temporary WAV files only). Everything runs on
one thread: ONNX Runtime (livesense's own setting), TensorFlow (set here) and
the BLAS behind NumPy (environment variables below, inherited by subprocesses).
"""
from __future__ import annotations

import argparse
import os
import sys

# Before NumPy is imported: its BLAS would otherwise spread the small matrix
# products over every core, and "one thread" would not hold.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import datetime as dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import soundfile as sf  # noqa: E402

from bench import pipelines  # noqa: E402
from bench.commands import run_livesense  # noqa: E402
from bench.archives import JOBS_CLIPS, measure_archives  # noqa: E402
from bench.listen import listen_cost  # noqa: E402
from bench.models import bench_models  # noqa: E402
from bench.speech import SAMPLE_RATE, build_speech  # noqa: E402
from bench.table import Table  # noqa: E402
from livesense.capture import BLOCK_S  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
TRAINING_PATTERN = "python -m training"
SMALL_CHUNK_S = 0.02  # a finer feed than the microphone's, for comparison


def training_running() -> bool:
    """Whether a training process is running (one paused with SIGSTOP for the
    benchmark's duration does not count: it takes no CPU)."""
    pids = subprocess.run(["pgrep", "-f", TRAINING_PATTERN], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            # The state letter follows the parenthesised command name; T = stopped.
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if state not in "Tt":
            return True
    return False


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(start_load, end_load, training: list[bool]) -> list[str]:
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores ({platform.machine()}, {platform.system()} {platform.release()})",
        f"- Python {platform.python_version()}, onnxruntime {version('onnxruntime')}, "
        f"TensorFlow {version('tensorflow-cpu')} (Keras {version('keras')}), NumPy {version('numpy')}, "
        f"librosa {version('librosa')}",
        f"- load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in start_load)}, "
        f"at end {'/'.join(f'{x:.2f}' for x in end_load)}",
        "- a model training (`python -m training`) ran concurrently: "
        + ("yes, at start and end" if all(training) else "yes, at start" if training[0]
           else "yes, at end" if training[1] else "no"),
    ] + ([f"- so livesense shared the {os.cpu_count()} cores with TensorFlow training at full speed: the figures "
          f"are pessimistic and vary from run to run (this benchmark ran at niceness {os.nice(0)})."]
         if any(training) else [])


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, help="minutes of speech (default 10; smoke 0.25)")
    parser.add_argument("--hours", type=float, help="hours of audio in the memory run (default 8; smoke 0.02)")
    parser.add_argument("--listen-seconds", type=float, help="seconds streamed at real-time pace per model and chunk size (default 40; smoke 2)")
    parser.add_argument("--repeats", type=int, help="timed runs of each TensorFlow pipeline, the best counts; livesense's own, which take seconds, get twice as many (default 2; smoke 1)")
    parser.add_argument("--arch", nargs="+", choices=("cnn", "bilstm", "logreg", "ensemble"), help="models (default all four; smoke ensemble, the default model, voice head and all)")
    parser.add_argument("--archive-clips", type=int, help="clips of the Dask comparison (default 1000; smoke 30)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every step runs, not timings")
    parser.add_argument("--output", type=Path, help=f"markdown file to write (default {RESULTS.relative_to(ROOT)}; "
                                                    "smoke: none)")
    args = parser.parse_args()
    defaults = dict(minutes=0.25, hours=0.02, listen_seconds=2.0, repeats=1, arch=["ensemble"], archive_clips=30) if args.smoke \
        else dict(minutes=10.0, hours=8.0, listen_seconds=40.0, repeats=2, arch=["cnn", "bilstm", "logreg", "ensemble"],
                  archive_clips=1000, output=RESULTS)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> int:
    args = arguments()
    start_load, training = os.getloadavg(), [training_running()]
    began = dt.datetime.now(dt.timezone.utc)
    models = bench_models(args.arch)
    speech = build_speech(args.minutes * 60)
    table = Table(args.arch)
    print(f"{speech.seconds / 60:.1f} min of speech from {len(speech.paths)} clips; models: "
          + ", ".join(f"{a} ({'trained' if m.trained else 'random weights'})" for a, m in models.items()),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="livesense-bench-") as tmp:
        wav, short = Path(tmp) / "speech.wav", Path(tmp) / "clip3s.wav"
        sf.write(wav, speech.audio, SAMPLE_RATE, subtype="FLOAT")
        sf.write(short, speech.audio[: 3 * SAMPLE_RATE], SAMPLE_RATE, subtype="FLOAT")
        measure_commands(table, models, wav, short, speech.seconds, 2 * args.repeats)
        measure_in_process(table, models, speech, args, wav)
        measure_memory(table, models[args.arch[0]], Path(tmp) / "session.jsonl", args.hours)
        archives = measure_archives(Path(tmp), short, 2 * args.repeats, args.archive_clips,
                                    20 if args.smoke else JOBS_CLIPS)
    training.append(training_running())
    text = report(table, machine(start_load, os.getloadavg(), training), speech, models, args, began, archives)
    print(text)
    if args.output is not None:
        args.output.write_text(text)
        print(f"written to {args.output}")
    return 0


def measure_commands(table: Table, models, wav: Path, short: Path, audio_s: float, repeats: int) -> None:
    """Start-up (first run, then the median of warm runs) and file-mode throughput of ``livesense file``."""
    warm_runs = max(3, repeats)
    for arch, model in models.items():
        print(f"livesense file ({arch})", flush=True)
        cold = run_livesense("file", str(short), "--model", str(model.onnx)).wall_s
        warm = statistics.median(run_livesense("file", str(short), "--model", str(model.onnx)).wall_s
                                 for _ in range(warm_runs))
        table.set("startup_cold", arch, cold)
        table.set("startup_warm", arch, warm)
        whole = min((run_livesense("file", str(wav), "--model", str(model.onnx)) for _ in range(repeats)),
                    key=lambda run: run.wall_s)
        as_json = min(run_livesense("file", "--json", str(wav), "--model", str(model.onnx)).wall_s
                      for _ in range(repeats))
        table.set("file_e2e", arch, audio_s / whole.wall_s)
        table.set("file_cpu", arch, whole.cpu_s / whole.wall_s)
        # The 3 s clip's run is almost all start-up: subtracting it leaves the analysis.
        table.set("file", arch, _analysis_speed(audio_s, whole.wall_s, warm))
        table.set("file_json", arch, _analysis_speed(audio_s, as_json, warm))


def _analysis_speed(audio_s: float, wall_s: float, startup_s: float) -> float:
    """Audio seconds per wall second once start-up is subtracted; NaN where the
    analysis took too small a share of the run to be told from start-up noise."""
    return audio_s / (wall_s - startup_s) if wall_s - startup_s > 0.2 * wall_s else math.nan


def measure_in_process(table: Table, models, speech, args, wav: Path) -> None:
    audio_s = speech.seconds
    listen_audio = speech.audio[: int(args.listen_seconds * SAMPLE_RATE)]
    # The same work for every model: timed once, set against each model's floor.
    vad = pipelines.time_vad(speech.audio, 2 * args.repeats)
    decode = pipelines.time_decode(wav, 2 * args.repeats)
    for arch, bench_model in models.items():
        print(f"engine, floor, listen ({arch})", flush=True)
        model = EmotionModel(bench_model.onnx)
        starts = pipelines.engine_windows(model, speech.audio)
        table.windows = len(starts)
        engine = pipelines.time_engine(model, speech.audio, 2 * args.repeats)
        floor = pipelines.time_floor(model, speech.audio, starts, 2 * args.repeats)
        table.set("engine", arch, audio_s / engine)
        table.set("floor", arch, audio_s / floor)
        table.set("engine_over_floor", arch, engine / floor)
        table.set("file_json_of_floor", arch, table.get("file_json", arch) * floor / audio_s)
        table.set("vad_of_floor", arch, vad / floor)
        table.set("decode_of_floor", arch, decode / floor)
        if model.info.voice_head is not None:
            voice = pipelines.time_voice_encoder(model, speech.audio, starts, 2 * args.repeats)
            table.set("voice_ms", arch, 1000 * voice / len(starts))
            table.set("voice_of_floor", arch, voice / floor)
        cost = listen_cost(model, listen_audio, BLOCK_S)
        table.set("listen_cpu", arch, cost.cpu_ms_per_audio_s)
        table.set("listen_share", arch, 100 * cost.core_share)
        table.set("latency_p50", arch, cost.latency_ms(50))
        table.set("latency_p95", arch, cost.latency_ms(95))
        cost = listen_cost(model, listen_audio, SMALL_CHUNK_S)
        table.set("listen_share_small", arch, 100 * cost.core_share)
        table.set("latency_p95_small", arch, cost.latency_ms(95))
    for arch, bench_model in models.items():
        print(f"Keras and librosa ({arch})", flush=True)
        model = EmotionModel(bench_model.onnx)
        starts = pipelines.engine_windows(model, speech.audio)
        per_clip = pipelines.time_keras(model, bench_model, speech, starts, args.repeats)
        one_call = pipelines.time_keras(model, bench_model, speech, starts, args.repeats, per_clip=False)
        peers = pipelines.time_librosa(model, bench_model, speech, args.repeats)
        table.set("keras", arch, audio_s / per_clip)
        table.set("keras_batch", arch, audio_s / one_call)
        table.set("librosa", arch, audio_s / peers)
        engine_x = table.get("engine", arch)
        table.set("vs_keras", arch, engine_x * per_clip / audio_s)
        table.set("vs_keras_batch", arch, engine_x * one_call / audio_s)
        table.set("vs_librosa", arch, engine_x * peers / audio_s)
        table.set("file_vs_keras", arch, table.get("file", arch) * per_clip / audio_s)


def measure_memory(table: Table, model, log: Path, hours: float) -> None:
    arch = model.arch
    print(f"{hours:g} h of audio through a logged session ({arch})", flush=True)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "longrun.py"), str(model.onnx), str(log),
                           "--hours", str(hours)], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    start, eighth, end = result["rss_mb"]
    table.set("rss_start", arch, start)
    table.set("rss_1h", arch, eighth)
    table.set("rss_8h", arch, end)
    table.set("rss_growth", arch, end - start)
    table.set("memory_wall", arch, result["wall_s"] / 60)
    table.memory_hours = hours


def report(table: Table, machine_lines: list[str], speech, models, args, began, archives) -> str:
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    provenance = "; ".join(
        f"`{arch}`: " + ("trained model from `models/`" if m.trained else
                         "random weights (same architecture from `training/models.py`, exported like the "
                         "trainer exports; speed depends on the graph, not the weights)")
        for arch, m in models.items())
    lines = [
        "# livesense benchmark",
        "",
        f"`{command.strip()}`, {began:%Y-%m-%d %H:%M} UTC.",
        "",
        *machine_lines,
        "",
        f"Audio: {speech.seconds / 60:.1f} min of real speech, {len(speech.paths)} CREMA-D and RAVDESS clips "
        f"concatenated; {table.windows} windows of 2 s (hop 0.5 s) judged speech and classified. "
        f"Models: {provenance}.",
        "",
        table.markdown(),
        "",
        *table.notes(args),
        "",
        "## Archives",
        "",
        "The default model (`ensemble`), the command as a user runs it, on clips of the corpora linked into a "
        "temporary folder; best of the timed runs of each. Start-up (the 3 s clip's median wall time) is "
        "subtracted where a row says so. The Dask cluster (`distributed.LocalCluster`, two worker processes of "
        "one thread) runs beside the command on the same two cores and is warmed up first (each worker "
        "imports livesense on its first task).",
        "",
        archives.markdown(),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
