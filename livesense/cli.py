"""The ``livesense`` command.

    livesense file PATH…        emotion timeline and verdict of recordings
    livesense batch PATH… --out F   an archive's results as a table (Parquet, JSON lines), resumable
    livesense listen            live monitor on a microphone
    livesense demo              live monitor on a bundled recording
    livesense devices           list input devices
    livesense calibrate         make a speaker profile from 20–30 s of speech
    livesense report LOG…       summary and timeline PNG of session logs

Exit codes (the same table is in README.md, "Exit codes"):
    0    success (also a live session ended with Ctrl-C or SIGTERM, and one
         whose input device vanished and came back before it ended)
    1    finished, but some inputs failed: audio files that are missing,
         unreadable or damaged (the others in the batch were processed),
         log files `report` cannot read (or with a line over 1 MiB), too
         little speech (or only noise) to calibrate, standard input that is not WAV,
         a `demo --clip` that cannot be played, or a live session whose
         --log stopped early (disk full; the session itself ran to its end)
    2    usage error, or an unusable model, profile or output
         (--model, --profile, --log, --png, calibrate -o, batch --out, a full
         disk or dead pipe on stdout); batch results made by another run
         (model, profile, options, version) or of another format; --scheduler
         without the [cluster] extra or with a scheduler out of reach; a
         profile with values no voice has; a result JSON cannot hold (NaN,
         infinity) for --json or the log; an output
         path that is one of the command's inputs (also through a symlink or
         hard link) or not a regular file: livesense never writes there
    3    audio device error: PortAudio missing, no input device, unknown
         --device, a --samplerate the device refuses; an input device lost
         and not back when the live session ended (after 10 minutes at most)
    4    internal error (a bug: please report it)
    130  interrupted with Ctrl-C (``file``, ``batch``, ``report``, ``calibrate``)
    143  ended by SIGTERM (``file``, ``batch``; like Ctrl-C, every window analysed
         is printed, in every output format; ``batch`` writes every file finished)

Errors are one line on stderr, never a traceback (set LIVESENSE_DEBUG=1 to
see one for an unexpected error).
"""
from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_DEVICE, EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 4, 130, 143
DEMO_CLIP = Path(__file__).parent / "samples" / "demo.flac"
MIN_SPEED, MAX_SPEED = 0.01, 10000.0  # demo --speed: slower or faster has no use
# Upper bounds of the other numeric options: beyond them a value is a typo, and
# near 1e308 a count of samples or bytes made from it overflows.
MAX_DURATION_S = 366 * 86400.0  # listen/demo --duration: a year
MAX_CALIBRATE_S = 600.0  # calibrate --seconds: a profile needs 20-30 s of speech
MAX_LOG_MB = 1e6  # --log-max-mb: a terabyte
MIN_PERIOD_S = 0.01  # report --period: shorter has no use, and near 1e-308 a period number overflows
STDIN = "-"  # `livesense file -`: WAV on standard input
MAX_JOBS = 4096  # --jobs: more worker processes than this is a typo


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the program is, as Ctrl-C raises KeyboardInterrupt:
    every path that keeps the work done on Ctrl-C keeps it on SIGTERM too."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated


def _error(message: str) -> None:
    from rich.markup import escape

    from .output import stderr_console

    # Escaped: file and device names may hold brackets that rich would read as markup.
    stderr_console().print(f"[bold red]livesense:[/] {escape(message)}", markup=True, soft_wrap=True)


def _inputs(args) -> list[str]:
    """Every file the command reads (model, profile, recording, logs): none of
    them may be a file it writes (see :mod:`livesense.writing`)."""
    named = [getattr(args, option, None) for option in ("model", "profile", "clip", "file")]
    return [str(path) for path in named if path] + list(getattr(args, "logs", []))


# ---------------------------------------------------------------- file


def _audio_files(path: Path) -> tuple[list[Path], list[str]]:
    """A file as given, or a directory's audio files (recursively, following
    symlinked directories, sorted); and an error message for each directory in
    it that cannot be read. A file that cannot be reached is listed all the same:
    opening it says why."""
    from .audio import AUDIO_EXTENSIONS, AudioError

    if not os.path.isdir(path):  # False also where it cannot be reached
        return [path], []
    unreadable: list[str] = []

    def note(err: OSError) -> None:
        unreadable.append(f"{err.filename}: cannot read the directory ({err.strerror}); its audio files "
                          "were skipped: make it readable (chmod +rx) or run livesense as a user who can")

    found, visited = [], set()
    for root, dirs, names in os.walk(path, onerror=note, followlinks=True):
        # A symlinked directory may lead back to one walked already: each is walked once.
        here = os.stat(root)
        if (here.st_dev, here.st_ino) in visited:
            dirs.clear()
            continue
        visited.add((here.st_dev, here.st_ino))
        for name in names:
            candidate = Path(root) / name
            if candidate.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            try:
                if candidate.is_file():
                    found.append(candidate)
            except OSError:  # listed but not reachable: a directory readable, not enterable
                found.append(candidate)
    found.sort()
    if not found and not unreadable:
        raise AudioError(f"{path}: directory holds no audio files ({', '.join(AUDIO_EXTENSIONS)}); "
                         "give audio files or another directory")
    return found, unreadable


def cmd_file(args) -> int:
    from .output import CsvRows, JsonLines, TerminalTables
    from .parallel import AnalysisOptions, ProcessWorkers, WorkerDied
    from .recognizer import Recognizer

    if args.paths.count(STDIN) > 1:
        _error("standard input ('-') can be read only once; give it once")
        return EXIT_USAGE
    if STDIN in args.paths and sys.stdin.isatty():
        _error("standard input ('-') is a terminal, not audio; pipe WAV into it, e.g. "
               "'sox in.mp3 -t wav - | livesense file -'")
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _raise_terminated)
    recognizer = Recognizer(args.model, args.profile)
    output = (JsonLines if args.json else CsvRows if args.csv else TerminalTables)(recognizer.labels)
    entries = _given_files(args.paths)
    files = [entry for entry in entries if isinstance(entry, str) and entry != STDIN]
    jobs = _jobs(args.jobs, len(files))
    failed = 0
    # With workers, files go to them; standard input is read here, at its place in the order.
    workers = ProcessWorkers(AnalysisOptions(args.model, args.profile), jobs) if jobs > 1 else None
    with workers or nullcontext():
        results = workers.results(files) if workers else None
        try:
            for entry in entries:
                if isinstance(entry, Unreadable):
                    _error(entry.message)
                    failed += 1
                elif workers is None or entry == STDIN:
                    source = sys.stdin.fileno() if entry == STDIN else entry
                    failed += not _show_file(output, entry, recognizer.stream_file(source))
                else:
                    result = next(results)
                    with _interrupts_deferred():  # a finished file is printed whole
                        failed += not _show_file(output, entry, result.replay())
        except (KeyboardInterrupt, WorkerDied):
            for result in workers.finished() if workers else ():  # finished, not yet printed: kept, in order
                with _interrupts_deferred():
                    _show_file(output, result.path, result.replay())
            raise
    return EXIT_INPUT if failed else EXIT_OK


@dataclass
class Unreadable:
    """A path given, or a directory in one, that could not be read: its error line."""

    message: str


def _given_files(given_paths: list[str]) -> list[str | Unreadable]:
    """The audio files of the paths given (directories searched) in order, each
    path or directory that could not be read in its place."""
    from .audio import AudioError

    entries: list[str | Unreadable] = []
    for given in given_paths:
        try:
            # Exactly "-": a file of that name is still reachable as ./-
            found, unreadable = ([STDIN], []) if given == STDIN else _audio_files(Path(given))
        except AudioError as err:
            entries.append(Unreadable(str(err)))
            continue
        # A file as typed (its output names it so, and "./-" stays a file, not standard input).
        files = [given] if found == [Path(given)] else [str(path) for path in found]
        entries += [Unreadable(message) for message in unreadable] + files
    return entries


@contextmanager
def _interrupts_deferred():
    """Ctrl-C and SIGTERM wait until the block ends (milliseconds: printing what is
    already analysed), then interrupt as they would have. A signal the process
    ignores (Ctrl-C for a job started in the background) stays ignored."""
    received = []
    previous = {number: signal.signal(number, lambda number, frame: received.append(number))
                for number in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(number) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise Terminated if received[0] == signal.SIGTERM else KeyboardInterrupt


def _jobs(asked: int, files: int) -> int:
    """Worker processes for ``--jobs asked`` (0: one per core) and ``files`` files."""
    from .parallel import cpu_count

    return max(1, min(asked or cpu_count(), files))


def _show_file(output, path: str, windows) -> bool:
    """Print one file's windows as they come, then its verdict. False if the
    file failed (what was analysed is printed, then the error line)."""
    from .audio import AudioError
    from .summary import SessionSummary

    summary = SessionSummary()
    try:
        for window in windows:
            credited = summary.add(window.start_s, window.end_s, window.label, window.raw_probabilities)
            output.window(path, window, credited)
    except AudioError as err:
        output.incomplete(path, summary)
        _error(str(err))
        return False
    except KeyboardInterrupt:
        output.incomplete(path, summary)
        raise
    output.verdict(path, summary)
    return True


# ---------------------------------------------------------------- batch


def cmd_batch(args) -> int:
    from .archive import FileKey, open_results, rows, run_metadata
    from .model import MODELS_DIR
    from .output import BatchProgress
    from .parallel import AnalysisOptions, DaskWorkers, InProcess, ProcessWorkers, WorkerDied
    from .recognizer import FILE_BATCH, Recognizer

    if STDIN in args.paths:
        _error("batch analyses files, not standard input ('-'); use 'livesense file -' for a stream")
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _raise_terminated)
    recognizer = Recognizer(args.model, args.profile)
    failed = 0
    keys: dict[str, FileKey] = {}  # by absolute path: a file given twice is analysed once
    for path in _given_files(args.paths):
        if isinstance(path, Unreadable):
            _error(path.message)
            failed += 1
            continue
        try:
            key = FileKey.of(path)
        except OSError as err:
            _error(f"{path}: cannot read the file ({err.strerror or err})")
            failed += 1
            continue
        keys.setdefault(key.path, key)
    options = {"speech_threshold": recognizer.speech_threshold, "smoothing": recognizer.smoothing,
               "file_batch": FILE_BATCH}
    metadata = run_metadata(recognizer.model, args.profile, options)
    # Paths as workers elsewhere (a cluster, another directory) can open them.
    model = args.model if args.model is None or recognizer.model.path.parent == MODELS_DIR else os.path.abspath(args.model)
    analysis = AnalysisOptions(model, os.path.abspath(args.profile) if args.profile else None)
    # Workers first: a cluster that cannot be reached leaves no output behind.
    jobs = _jobs(args.jobs, len(keys))
    workers = (DaskWorkers(analysis, args.scheduler) if args.scheduler else
               ProcessWorkers(analysis, jobs) if jobs > 1 else InProcess(analysis))
    with workers, open_results(args.out, metadata, _inputs(args) + list(keys)) as results:
        todo = results.todo(list(keys.values()))
        with BatchProgress(len(todo), sum(key.size for key in todo), len(keys) - len(todo)) as progress:

            def record(result) -> bool:
                """Write one file's rows; False if it failed (its error line printed)."""
                if result.error is not None and not result.windows:  # unreadable: no rows, tried again next run
                    _error(result.error)
                    return False
                results.add(rows(keys[result.path], result, recognizer.labels))
                progress.advance(keys[result.path].size, result.windows[-1].end_s)
                if result.error is not None:
                    _error(result.error)
                return result.error is None

            try:
                for result in workers.results([key.path for key in todo]):
                    with _interrupts_deferred():  # a file's rows are written whole
                        failed += not record(result)
            except (KeyboardInterrupt, WorkerDied):
                for result in workers.finished():  # finished, not yet written: kept
                    with _interrupts_deferred():
                        failed += not record(result)
                progress.stopped(args.out)
                raise
        progress.done(args.out)
    return EXIT_INPUT if failed else EXIT_OK


# ---------------------------------------------------------------- live sessions


def _run_session(args, make_source) -> int:
    """Run a live session on ``make_source(sample_rate)``, then print its summary."""
    from .output import print_session_summary, stderr_console, stdout_console
    from .recognizer import Recognizer
    from .session import Session
    from .session_log import SessionLog

    recognizer = Recognizer(args.model, args.profile)
    log = SessionLog(args.log, max_bytes=int(args.log_max_mb * 2**20), inputs=_inputs(args)) if args.log else None
    source = make_source(recognizer.sample_rate)
    source.open()
    session = None
    display = None if args.json else stdout_console()
    summary_console = stderr_console() if args.json else display
    try:
        session = Session(recognizer, source, duration_s=args.duration, log=log,
                          json_out=sys.stdout if args.json else None, console=display)
        summary = session.run()
    except Exception:
        # A stream that failed midway: what was analysed is still summarised
        # before the error line.
        if session is not None and session.summary.windows:
            print_session_summary(summary_console, session.summary, session.overflows, log)
        raise
    finally:
        source.close()  # also when the session failed; closing twice is harmless
    print_session_summary(summary_console, summary, session.overflows, log)
    # The session ran to its end, but its log is incomplete (disk full, device gone).
    return EXIT_INPUT if log is not None and log.error else EXIT_OK


def cmd_listen(args) -> int:
    from .capture import Microphone

    return _run_session(args, lambda rate: Microphone(args.device, args.samplerate, target_rate=rate))


def cmd_demo(args) -> int:
    from .capture import FilePlayer

    return _run_session(args, lambda rate: FilePlayer(args.clip, target_rate=rate, speed=args.speed))


def cmd_devices(args) -> int:
    from .capture import input_devices
    from .output import print_devices

    devices = input_devices()
    if not devices:
        _error("no audio input device found; connect a microphone, or try 'livesense demo'")
        return EXIT_DEVICE
    print_devices(devices, json_lines=args.json)
    return EXIT_OK


# ---------------------------------------------------------------- calibrate


def cmd_calibrate(args) -> int:
    from .calibration import MICROPHONE, CalibrationError, calibrate_audio, calibrate_file
    from .model import DEFAULT_MODEL, EmotionModel
    from .writing import check_output_path

    # Before the take: a path that cannot be written must not cost a recording.
    check_output_path(args.output, _inputs(args))
    model = EmotionModel(args.model or DEFAULT_MODEL)
    try:
        if args.file:
            calibration = calibrate_file(args.file, model, args.seconds)
        else:
            calibration = calibrate_audio(_record(args, model.features.sample_rate), model, MICROPHONE)
    except CalibrationError as err:
        _error(str(err))
        return EXIT_INPUT
    try:
        calibration.save(args.output, _inputs(args))
    except OSError as err:
        _error(f"{args.output}: cannot write the profile ({err.strerror or err}); choose another --output path")
        return EXIT_USAGE
    print(f"profile written to {args.output} ({calibration.speech_s:.1f} s of speech, {calibration.n_frames} "
          f"frames); use it with --profile {args.output}")
    return EXIT_OK


def _record(args, rate: int):
    """``args.seconds`` from the microphone at ``rate`` Hz, under a spinner on
    stderr that names the device and counts the seconds; gone once recorded."""
    from rich.console import Console
    from rich.markup import escape

    from .calibration import record

    status = None

    def show(device: str, recorded_s: float) -> None:
        nonlocal status
        prompt = escape(f"recording from {device!r}: speak in your normal voice…")
        if status is None:  # the device just opened
            status = Console(stderr=True).status(prompt)
            status.start()
        else:
            status.update(f"{prompt} {recorded_s:4.1f} / {args.seconds:g} s")

    try:
        return record(args.seconds, rate, args.device, args.samplerate, show)
    finally:
        if status is not None:
            status.stop()


# ---------------------------------------------------------------- report


def cmd_report(args) -> int:
    from .output import print_report, stdout_console
    from .report import SessionReport, in_time_order, plot_timeline
    from .session_log import LogError

    if args.png and Path(args.png).suffix.lower() != ".png":
        _error(f"{args.png}: the timeline is a PNG image; give a --png path ending in .png")
        return EXIT_USAGE
    report = SessionReport(args.period)
    failed = []
    for path in in_time_order(args.logs):  # rotated parts oldest first, whatever the order given
        try:
            report.read(path)
        except LogError as err:
            _error(str(err))
            failed.append(path)
    readable = [path for path in args.logs if path not in failed]
    if not report.sessions():
        if readable:
            found = (f"no usable window records found ({report.refused} with impossible values; the first: "
                     f"{report.first_refusal})" if report.refused else "no window records found")
            _error(f"{', '.join(readable)}: {found}; is this a livesense log?")
        return EXIT_INPUT

    console = stdout_console()
    print_report(console, report)
    png = Path(args.png) if args.png else Path((readable or args.logs)[0]).with_suffix(".png")
    try:
        plot_timeline(report, png, _inputs(args))
    except OSError as err:
        _error(f"{png}: cannot write the timeline PNG ({err.strerror or err}); choose another --png path")
        return EXIT_USAGE
    console.print(f"timeline: {png}", soft_wrap=True, markup=False)
    return EXIT_INPUT if failed else EXIT_OK


# ---------------------------------------------------------------- parser


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not (number > 0 and math.isfinite(number)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {value!r}")
    return number


def _between(low: float, high: float):
    """An option type: a number from ``low`` (0: any positive one) to ``high``."""

    def number_between(value: str) -> float:
        number = _positive(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:.15g} and {high:.15g}: {value!r}")
        return number

    return number_between


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number: {value!r}")
    return number


def _count(value: str) -> int:
    """A whole number from 0 to 4096 (--jobs: 0 means one per core)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 0 <= number <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"must be from 0 (one per core) to {MAX_JOBS}: {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livesense", description="Real-time speech emotion monitor.",
        epilog="exit codes: 0 ok, 1 some inputs failed (or the session log stopped), "
               "2 usage/model/profile/output-path error, 3 audio device error, 4 internal error, "
               "130 interrupted, 143 terminated (SIGTERM)",
    )
    parser.add_argument("--version", action="version", version=f"livesense {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_options(p):
        p.add_argument("--model", metavar="cnn|bilstm|logreg|ensemble|PATH",
                       help="shipped model name or a livesense .onnx file (default: the best measured, ensemble)")
        p.add_argument("--profile", metavar="FILE", help="speaker profile from 'livesense calibrate'")

    def session_options(p):
        model_options(p)
        p.add_argument("--duration", type=_between(0, MAX_DURATION_S), metavar="SECONDS",
                       help="stop after this many seconds of audio (default: until Ctrl-C)")
        p.add_argument("--log", metavar="FILE", help="append one JSON line per window to FILE")
        p.add_argument("--log-max-mb", type=_between(0, MAX_LOG_MB), default=50, metavar="MB",
                       help="rotate the log at this size (default: 50)")
        p.add_argument("--json", action="store_true", help="no display: JSON lines on stdout")

    def device_options(p):
        p.add_argument("--device", metavar="NAME|INDEX", help="input device (default: the system default)")
        p.add_argument("--samplerate", type=_positive_int, metavar="HZ", help="capture rate (default: the device's native rate)")

    p = commands.add_parser("file", help="analyse recordings", description="Per-window emotion timeline and overall verdict of audio files.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or directories; - reads WAV from standard input")
    model_options(p)
    p.add_argument("--jobs", type=_count, default=1, metavar="N",
                   help="files analysed at once in worker processes, 0 = one per core (default: 1); "
                        "the output is the same, in the same order")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="JSON lines: one per window, one verdict per file")
    fmt.add_argument("--csv", action="store_true", help="CSV: one row per window, one verdict row per file")
    p.set_defaults(func=cmd_file)

    p = commands.add_parser("batch", help="analyse an archive into a results table (resumable)",
                            description="Analyse audio files (directories searched) into one table of results, "
                                        "a row per window and one per file, in Parquet or JSON lines. A rerun "
                                        "skips the files already in it (same path, size and modification time).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or directories")
    model_options(p)
    p.add_argument("--out", required=True, metavar="FILE", help="results file: .parquet or .jsonl")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_count, default=1, metavar="N",
                       help="files analysed at once in worker processes, 0 = one per core (default: 1)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="analyse on the Dask cluster whose scheduler is at ADDRESS, e.g. tcp://host:8786 "
                            "(needs livesense[cluster]; files, model and profile at the same paths on the workers)")
    p.set_defaults(func=cmd_batch)

    p = commands.add_parser("listen", help="live monitor on a microphone", description="Live emotion monitor on an input device.")
    session_options(p)
    device_options(p)
    p.set_defaults(func=cmd_listen)

    p = commands.add_parser("demo", help="live monitor on a bundled recording",
                            description="Stream a bundled recording through the live monitor at real-time pace.")
    session_options(p)
    p.add_argument("--clip", default=str(DEMO_CLIP), metavar="FILE", help="recording to play (default: bundled demo)")
    p.add_argument("--speed", type=_between(MIN_SPEED, MAX_SPEED), default=1.0,
                   help=f"playback speed factor, {MIN_SPEED:g} to {MAX_SPEED:g} (default: 1, real time)")
    p.set_defaults(func=cmd_demo)

    p = commands.add_parser("devices", help="list input devices")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=cmd_devices)

    p = commands.add_parser("calibrate", help="make a speaker profile",
                            description="Record 20-30 s of your normal speech (or read a file) and save the "
                                        "statistics of its speech frames as a profile for --profile.")
    p.add_argument("--model", metavar="cnn|bilstm|logreg|ensemble|PATH",
                   help="model whose features the profile is for (default: the default model, ensemble); profiles "
                        "always hold pitch statistics, so one also serves models without pitch features")
    p.add_argument("--file", metavar="AUDIO", help="use a recording instead of the microphone")
    # calibration.DEFAULT_SECONDS, written out: importing it would load numpy for every command.
    p.add_argument("--seconds", type=_between(0, MAX_CALIBRATE_S), default=25.0,
                   help=f"seconds of audio to use, at most {MAX_CALIBRATE_S:g} (default: 25)")
    p.add_argument("-o", "--output", default="livesense-profile.json", metavar="FILE",
                   help="profile to write (default: livesense-profile.json)")
    device_options(p)
    p.set_defaults(func=cmd_calibrate)

    p = commands.add_parser("report", help="summarise session logs",
                            description="Summary tables and a timeline PNG of 'listen --log' files.")
    p.add_argument("logs", nargs="+", metavar="LOG")
    p.add_argument("--png", metavar="FILE", help="timeline image (default: the first log's name with .png)")
    p.add_argument("--period", type=_between(MIN_PERIOD_S, MAX_DURATION_S), default=60.0, metavar="SECONDS",
                   help=f"period for the dominant-emotion table, {MIN_PERIOD_S:g} s to a year (default: 60)")
    p.set_defaults(func=cmd_report)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    # A file name that is not valid UTF-8 reaches us with surrogate escapes: write
    # its original bytes back rather than fail on it.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    with _native_stderr_muted():
        return _run(args)


@contextmanager
def _native_stderr_muted():
    """Native libraries write warnings straight to file descriptor 2, around
    livesense's one line (libmpg123 on a damaged MP3 writes one per bad frame,
    PortAudio and ALSA when the sound server dies): while a command runs, fd 2
    goes to /dev/null and Python's ``sys.stderr`` (livesense's own messages,
    rich's, a traceback under LIVESENSE_DEBUG) to a copy of the real one.
    Where stderr is no real file (a caller capturing it in Python), nothing changes."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    python_stderr, native_null = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    previous = sys.stderr
    sys.stderr = open(python_stderr, "w", buffering=1, encoding=previous.encoding or "utf-8",
                      errors="backslashreplace", closefd=False)
    os.dup2(native_null, fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(python_stderr, fd)
        sys.stderr = previous
        os.close(python_stderr)
        os.close(native_null)


def _run(args) -> int:
    """Run the parsed command; the errors a user can cause become one line and an exit code."""
    from .archive import ResultsError
    from .audio import AudioError
    from .capture import DeviceError
    from .model import ModelError
    from .parallel import ClusterUnavailable, WorkerDied
    from .normalization import ProfileError
    from .session_log import LogError
    from .writing import NotFiniteError, OutputError

    try:
        return args.func(args)
    except (ModelError, ProfileError, LogError, OutputError, NotFiniteError, ResultsError, ClusterUnavailable) as err:
        _error(str(err))
        return EXIT_USAGE
    except DeviceError as err:
        _error(str(err))
        return EXIT_DEVICE
    except (AudioError, WorkerDied) as err:
        _error(str(err))
        return EXIT_INPUT
    except Terminated:
        _error("terminated (SIGTERM)")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed by its reader (`| head`); keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        if err.errno not in _OUTPUT_ERRNOS:  # every file we write reports its own errors: not stdout
            return _internal_error(err)
        _error(f"cannot write the output ({err.strerror or err}); check the disk or the pipe it goes to")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_USAGE
    except Exception as err:  # a bug, not bad input: still one line unless debugging
        return _internal_error(err)


# Errors of writing stdout (a full disk, a dead device or pipe), not of a bug.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EPIPE}


def _internal_error(err: Exception) -> int:
    if os.environ.get("LIVESENSE_DEBUG"):
        raise err
    if isinstance(err, ImportError) and _interrupted_in(err):
        # Ctrl-C while a C extension was being imported surfaces as its ImportError.
        _error("interrupted")
        return EXIT_INTERRUPTED
    _error(f"internal error: {type(err).__name__}: {err} (set LIVESENSE_DEBUG=1 for details)")
    return EXIT_BUG


def _interrupted_in(err: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt is among the exceptions that led to ``err``."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
