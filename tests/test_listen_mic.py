"""`livesense listen` end to end through a real audio stack.

PulseAudio runs with a pipe source (``module-pipe-source``) as the default
input; PortAudio reaches it through ALSA's pulse plugin, exactly as it would a
microphone. A thread writes 16 kHz s16le audio into the pipe at real-time pace:
silence, or a CREMA-D clip when a test asks for it.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from livesense.audio import read_audio

from .runtime_support import ROOT, SAMPLES

pytestmark = pytest.mark.skipif(
    shutil.which("pulseaudio") is None or shutil.which("pactl") is None,
    reason="PulseAudio is not installed (apt install pulseaudio pulseaudio-utils libportaudio2)",
)
RATE = 16000
BLOCK = 1600  # 0.1 s


class PulseServer:
    """A private PulseAudio daemon whose default source is a pipe we write to."""

    def __init__(self, runtime: Path):
        runtime.chmod(0o700)
        self.pipe = runtime / "virtmic"
        # HOME too: pulseaudio keeps its cookie and state there.
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
        self.process: subprocess.Popen | None = None
        self.log = runtime / "pulse.log"

    def start(self) -> None:
        self.pipe.unlink(missing_ok=True)  # a killed server leaves its FIFO behind
        self.process = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=false",
             "--load=module-native-protocol-unix",
             "--load=module-null-sink sink_name=nullout",
             f"--load=module-pipe-source source_name=virtmic file={self.pipe} format=s16le rate={RATE} channels=1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "a"),
        )
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "set-default-source", "virtmic"], env=self.env,
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                pytest.fail(f"PulseAudio did not start: {self.log.read_text()[-500:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


class Feeder(threading.Thread):
    """Writes audio into the pipe at real-time pace; silence when nothing is queued.
    Survives the server going away and reopens the pipe when it is back."""

    def __init__(self, pipe: Path):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.pending: queue.Queue = queue.Queue()
        self.stopped = threading.Event()

    def play(self, audio: np.ndarray) -> None:
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
        for start in range(0, len(pcm), BLOCK):
            self.pending.put(pcm[start : start + BLOCK].tobytes())

    def run(self) -> None:
        silence = bytes(2 * BLOCK)
        while not self.stopped.is_set():
            try:
                fd = os.open(self.pipe, os.O_WRONLY | os.O_NONBLOCK)  # fails until a reader has it open
            except OSError:
                time.sleep(0.05)
                continue
            os.set_blocking(fd, True)
            began, written = time.monotonic(), 0
            try:
                while not self.stopped.is_set():
                    try:
                        block = self.pending.get_nowait()
                    except queue.Empty:
                        block = silence
                    os.write(fd, block)
                    written += len(block) // 2
                    time.sleep(max(0.0, began + written / RATE - time.monotonic()))
            except OSError:  # server gone: wait for the pipe to have a reader again
                pass
            finally:
                os.close(fd)


@pytest.fixture
def pulse(tmp_path):
    server = PulseServer(tmp_path)
    server.start()
    feeder = Feeder(server.pipe)
    feeder.start()
    yield server, feeder
    feeder.stopped.set()
    server.stop()
    feeder.join(5)


def patient(server: PulseServer, directory: Path, code: str = "") -> dict:
    """``server.env`` for a livesense child whose session waits 60 s, not 10 s, past
    ``--duration`` before it gives up on a slow device: on a loaded machine the
    PulseAudio restart or a deliberately slow engine must not cut the audio short.
    ``code`` runs in the child too, after livesense is imported."""
    directory.mkdir(exist_ok=True)
    (directory / "sitecustomize.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})  # this checkout's livesense, as `-m livesense` will use\n"
        "import livesense.session\n"
        "livesense.session.DURATION_GRACE_S = 60.0\n" + code)
    return {**server.env, "PYTHONPATH": str(directory)}


def listen(server: PulseServer, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "livesense", "listen", "--json", *args], cwd=ROOT,
                            env=env or server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def communicate(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """``proc.communicate``, killing the child if it overruns so that it outlives no test."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_listen_reports_speech_with_its_emotion_and_silence(pulse, shipped_model_name):
    server, feeder = pulse
    # 18 s: the speech starts whenever the first window is out, and at least
    # one silence window must follow it however late that is.
    proc = listen(server, "--duration", "18", "--model", shipped_model_name)
    first = proc.stdout.readline()  # the first window (2 s of silence) proves capture runs
    assert first, proc.communicate()[1]
    clip = read_audio(SAMPLES / "1058_IWL_ANG_XX.flac")
    feeder.play(np.concatenate([clip, clip]))  # 6.1 s of angry speech, then silence again
    out, err = communicate(proc, 60)
    assert proc.returncode == 0, err
    windows = [json.loads(first)] + [json.loads(line) for line in out.splitlines()]
    assert windows[-1]["end"] == 18.0 and len(windows) == 33
    speech = [w for w in windows if w["speech"]]
    assert len(speech) >= 6
    mean = {k: np.mean([w["raw_probabilities"][k] for w in speech]) for k in speech[0]["raw_probabilities"]}
    assert "angry" in sorted(mean, key=mean.get)[-2:], mean
    assert not windows[0]["speech"] and not windows[-1]["speech"]  # silence before and after
    assert all((w["label"] == "silence") == (w["probabilities"] is None) == (not w["speech"]) for w in windows)
    # Overflows are the overflow test's subject: a loaded machine may cause some here.
    assert "session summary" in err and "input overflows: " in err


def test_listen_survives_the_device_vanishing(pulse, tiny_model_path, tmp_path):
    server, feeder = pulse
    proc = listen(server, "--duration", "8", "--model", str(tiny_model_path), env=patient(server, tmp_path / "site"))
    assert proc.stdout.readline(), proc.communicate()[1]  # capturing
    server.stop()  # the audio server, and with it the device, disappears
    time.sleep(2)
    server.start()
    out, err = communicate(proc, 90)
    assert proc.returncode == 0, err
    assert "lost; retrying in 1 s (attempt 1)" in err and "input device is back" in err
    assert len(out.splitlines()) + 1 == 13  # all 8 s of audio analysed: windows ending 2.0 … 8.0
    assert "Traceback" not in err


def test_unknown_device_and_refused_rate_are_device_errors(pulse, tiny_model_path):
    server, _ = pulse
    cases = [
        (["--device", "no such microphone"], "no input device matches 'no such microphone'; 'livesense devices' lists them"),
        (["--device", "99"], "no input device matches '99'; 'livesense devices' lists them"),
        (["--samplerate", "9000000"], "refuses 9000000 Hz mono"),
    ]
    for args, message in cases:
        proc = listen(server, *args, "--model", str(tiny_model_path))
        out, err = communicate(proc, 30)
        assert proc.returncode == 3 and message in err, err
        assert err.count("\n") == 1 and err.startswith("livesense: ") and "Traceback" not in err and out == ""
    assert "try --samplerate" in err


def test_overflows_are_counted_and_shown_never_fatal(pulse, tiny_model_path, tmp_path):
    """A machine too slow for the stream: the engine takes 0.25 s per 0.1 s block, so
    PortAudio's blocks pile up and are dropped. The session counts them, shows them
    in its summary and log, and goes on to the requested duration."""
    server, _ = pulse
    env = patient(server, tmp_path / "slow", (
        "import time, livesense.capture, livesense.engine\n"
        "livesense.capture.QUEUE_S = 0.5  # room for 5 blocks\n"
        "_feed = livesense.engine.StreamEngine.feed\n"
        "def slow_feed(self, chunk):\n"
        "    time.sleep(0.25)\n"
        "    return _feed(self, chunk)\n"
        "livesense.engine.StreamEngine.feed = slow_feed\n"))
    log = tmp_path / "s.jsonl"
    proc = listen(server, "--duration", "4", "--model", str(tiny_model_path), "--log", str(log), env=env)
    out, err = communicate(proc, 120)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert [json.loads(line)["end"] for line in out.splitlines()] == [2.0, 2.5, 3.0, 3.5, 4.0]
    overflows = int(err.split("input overflows: ")[1].split()[0])
    assert overflows >= 5, err
    end = json.loads(log.read_text().splitlines()[-1])
    assert end["type"] == "end" and end["overflows"] == overflows


def test_devices_lists_the_pulse_input(pulse):
    server, _ = pulse
    result = subprocess.run([sys.executable, "-m", "livesense", "devices", "--json"], cwd=ROOT, env=server.env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    devices = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(d["default"] for d in devices) and {"index", "name", "samplerate"} <= devices[0].keys()


def test_calibrate_from_the_microphone(pulse, tiny_model_path, tmp_path):
    server, feeder = pulse
    profile = tmp_path / "me.json"
    proc = subprocess.Popen([sys.executable, "-m", "livesense", "calibrate", "--seconds", "12", "--model",
                             str(tiny_model_path), "-o", str(profile)], cwd=ROOT, env=server.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    speech = [read_audio(SAMPLES / f"{name}.flac") for name in ("1058_IWL_ANG_XX", "1058_TAI_SAD_XX", "1058_IEO_HAP_MD")]
    feeder.play(np.concatenate(speech * 2))  # 17 s: whenever capture starts, it hears 12 s of speech
    out, err = communicate(proc, 60)
    assert proc.returncode == 0, err
    assert f"profile written to {profile}" in out
    assert json.loads(profile.read_text())["speech_seconds"] >= 5


def _ended_without_device(proc: subprocess.Popen, server: PulseServer, log: Path) -> str:
    """Let ``proc`` capture, take its device away for good; its stderr once it
    has ended with the device error (exit 3) and a complete log."""
    assert proc.stdout.readline(), proc.communicate()[1]  # capturing
    server.stop()  # the audio server, and with it the device, is gone and stays gone
    out, err = communicate(proc, 90)
    assert proc.returncode == 3, err
    assert err.splitlines()[-1].startswith("livesense: input device ") and "Traceback" not in err
    assert "was lost and not back after" in err.splitlines()[-1] and "--device" in err.splitlines()[-1]
    assert "session summary" in err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[-1]["type"] == "end" and records[-1]["duration_s"] > 0
    return err


def test_a_device_that_never_comes_back_ends_a_timed_session_with_exit_3(pulse, tiny_model_path, tmp_path):
    server, _ = pulse
    log = tmp_path / "s.jsonl"
    proc = listen(server, "--duration", "3", "--log", str(log), "--model", str(tiny_model_path))
    err = _ended_without_device(proc, server, log)
    assert "--duration 3 s of wall time is over" in err


def test_a_device_lost_for_longer_than_the_give_up_time_ends_the_session(pulse, tiny_model_path, tmp_path):
    server, _ = pulse
    log = tmp_path / "s.jsonl"
    env = patient(server, tmp_path / "site", "import livesense.capture\nlivesense.capture.GIVE_UP_S = 4.0\n")
    proc = listen(server, "--log", str(log), "--model", str(tiny_model_path), env=env)  # no --duration
    err = _ended_without_device(proc, server, log)
    assert "retrying in 2 s (attempt 2)" in err and "attempt 3" not in err
