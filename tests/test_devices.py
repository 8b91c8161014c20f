"""Audio device faults that need no audio server: PortAudio missing, overflows."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from livesense.capture import Microphone

from .runtime_support import ROOT


def test_missing_portaudio_names_the_package_to_install(tmp_path, tiny_model_path):
    # Make ctypes unable to find libportaudio, as on a machine without it.
    (tmp_path / "sitecustomize.py").write_text(
        "import ctypes.util\n"
        "_find = ctypes.util.find_library\n"
        "ctypes.util.find_library = lambda name: None if 'portaudio' in name else _find(name)\n"
    )
    model = ["--model", str(tiny_model_path)]  # the device error must not depend on the shipped model
    for command in (["listen", *model], ["devices"], ["calibrate", *model]):
        result = subprocess.run([sys.executable, "-m", "livesense", *command], cwd=ROOT, capture_output=True,
                                text=True, timeout=60, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 3, result.stderr
        assert "PortAudio library not found" in result.stderr and "libportaudio2" in result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_overflows_are_counted_never_fatal():
    mic = Microphone()
    mic._queue.maxsize = 2  # a consumer that fell behind
    block = np.zeros((1600, 1), np.float32)
    for overflow in (False, True, False, False):
        mic._callback(block, 1600, None, SimpleNamespace(input_overflow=overflow))
    # One flagged by PortAudio, two blocks dropped because the queue was full.
    assert mic.overflows == 3 and mic._queue.qsize() == 2


def test_no_input_device_is_a_device_error(tmp_path, tiny_model_path):
    # No PulseAudio server reachable: on a machine without a sound card that
    # leaves PortAudio without any input device.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path),
           "PULSE_SERVER": f"unix:{tmp_path}/no-server"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "livesense", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    if run("devices", "--json").returncode == 0:
        pytest.skip("this machine has a real input device")
    model = ["--model", str(tiny_model_path)]
    for args in (["devices"], ["listen", *model], ["calibrate", *model]):
        result = run(*args)
        assert result.returncode == 3, result.stderr
        assert "no audio input device found" in result.stderr and "livesense demo" in result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_lost_device_is_retried_with_growing_backoff(monkeypatch):
    """The waits between reopening attempts grow 1, 2, 4, 8 s…; each attempt is announced,
    and the return of the device clears the message."""
    import livesense.capture as capture

    monkeypatch.setattr(capture, "_sounddevice", lambda: SimpleNamespace(_terminate=lambda: None,
                                                                         _initialize=lambda: None))
    messages, waits = [], []
    mic = Microphone(on_status=messages.append)
    mic.name = "USB mic"
    comes_back = iter([False] * 6 + [True])

    def reopen():
        if not next(comes_back):
            raise capture.DeviceError("no input device matches 'USB mic'")

    mic.open = reopen

    class NeverStopped:
        def is_set(self):
            return False

        def wait(self, seconds):
            waits.append(seconds)
            return False

    mic._reconnect(NeverStopped())
    assert waits == [1, 2, 4, 8, 15, 30, 30]
    assert messages == [f"input device 'USB mic' lost; retrying in {w} s (attempt {i})"
                        for i, w in enumerate(waits, 1)] + [None]
