"""Audio sources for live sessions: a microphone through PortAudio, or a file
played at real-time pace (``livesense demo``).

A source yields ``(block, captured_at)`` pairs: mono float32 at 16 kHz (the
model's rate) and the ``time.monotonic()`` at which the block's last sample
arrived, from which the session measures processing latency.

The microphone's PortAudio callback runs on a real-time audio thread, so it
only copies the block into a bounded queue and counts overflows; resampling
and everything else happen in the consumer (the session's worker thread).
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soxr

from .audio import check_readable, stream_audio

BLOCK_S = 0.1  # capture block length, seconds
QUEUE_S = 30.0  # seconds of audio the queue holds before blocks are dropped
STALL_S = 2.0  # no audio for this long means the device is gone
BACKOFF_S = (1, 2, 4, 8, 15, 30)  # waits between reopening attempts, then 30 s each
GIVE_UP_S = 600.0  # a device lost for this long is not coming back: the session ends (exit 3)


class DeviceError(Exception):
    """An audio device problem; the message names the device and what to do."""


def _sounddevice():
    """Import sounddevice, which loads the PortAudio shared library."""
    try:
        import sounddevice
    except OSError:
        raise DeviceError(
            "PortAudio library not found; install it, e.g. 'sudo apt install libportaudio2' "
            "on Debian/Ubuntu, 'sudo dnf install portaudio' on Fedora, 'brew install portaudio' on macOS"
        ) from None
    except Exception as err:  # sounddevice starts PortAudio on import: its PortAudioError
        if type(err).__name__ != "PortAudioError":
            raise
        raise DeviceError(f"PortAudio cannot start the sound system ({str(err).split(':')[0]}); check its "
                          "configuration (ALSA, PulseAudio or PipeWire) or restart the sound server") from None
    return sounddevice


def input_devices() -> list[dict]:
    """Input devices: dicts with index, name, channels, samplerate (native, Hz),
    hostapi and default (is it the default input)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default = sd.default.device[0]
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as err:
        raise DeviceError(f"cannot list audio devices ({err})") from None
    return [
        {
            "index": d["index"],
            "name": d["name"],
            "channels": d["max_input_channels"],
            "samplerate": int(d["default_samplerate"]),
            "hostapi": hostapis[d["hostapi"]]["name"],
            "default": d["index"] == default,
        }
        for d in devices
        if d["max_input_channels"] > 0
    ]


def find_device(spec: str | int | None) -> dict:
    """The input device named by ``spec``: None for the default, an index, or
    part of a name (case-insensitive; an exact name wins over a partial match)."""
    devices = input_devices()
    if not devices:
        raise DeviceError("no audio input device found; connect a microphone, or try 'livesense demo'")
    if spec is None:
        chosen = [d for d in devices if d["default"]] or devices[:1]
        return chosen[0]
    if isinstance(spec, int) or str(spec).isdigit():
        matches = [d for d in devices if d["index"] == int(spec)]
    else:
        exact = [d for d in devices if d["name"].lower() == str(spec).lower()]
        matches = exact or [d for d in devices if str(spec).lower() in d["name"].lower()]
    if not matches:
        raise DeviceError(f"no input device matches {spec!r}; 'livesense devices' lists them")
    if len(matches) > 1:
        names = "; ".join(f"{d['index']}: {d['name']}" for d in matches)
        raise DeviceError(f"device {spec!r} is ambiguous ({names}); give its index")
    return matches[0]


class Microphone:
    """Live audio from an input device, resampled to ``target_rate``.

    Args:
        device: see :func:`find_device`.
        samplerate: capture rate in Hz; default the device's native rate.
        target_rate: rate of the yielded blocks (the model's, 16000).
        on_status: called with a message when the device is lost or back
            (None when back), from the consumer thread.
    ``overflows`` counts blocks PortAudio flagged as overflowed plus blocks
    dropped because the consumer fell behind; never fatal.
    """

    def __init__(self, device: str | int | None = None, samplerate: int | None = None,
                 target_rate: int = 16000, on_status: Callable[[str | None], None] | None = None):
        self.spec = device
        self.requested_rate = samplerate
        self.target_rate = target_rate
        self.on_status = on_status or (lambda message: None)
        self.overflows = 0
        self.name = ""
        self.rate = 0
        self._stream = None
        self._queue: queue.Queue = queue.Queue(maxsize=int(QUEUE_S / BLOCK_S))

    def open(self) -> None:
        """Open and start the input stream.

        Raises:
            DeviceError: no such device, or it refuses the rate or to open.
        """
        sd = _sounddevice()
        info = find_device(self.spec)
        rate = self.requested_rate or info["samplerate"]
        blocksize = max(1, int(rate * BLOCK_S))
        try:
            sd.check_input_settings(device=info["index"], channels=1, samplerate=rate, dtype="float32")
        except (sd.PortAudioError, ValueError) as err:
            raise DeviceError(f"input device {info['name']!r} refuses {rate} Hz mono ({err}); "
                              f"try --samplerate {info['samplerate']} or another device") from None
        try:
            stream = sd.InputStream(device=info["index"], channels=1, samplerate=rate, dtype="float32",
                                    blocksize=blocksize, callback=self._callback)
            stream.start()
        except (sd.PortAudioError, ValueError) as err:
            raise DeviceError(f"cannot open input device {info['name']!r} ({err}); "
                              "check that no other program holds it, or pick another with --device") from None
        self._stream, self.name, self.rate = stream, info["name"], rate
        self._resampler = (None if rate == self.target_rate
                           else soxr.ResampleStream(rate, self.target_rate, 1, dtype="float32"))

    def _callback(self, indata, frames, time_info, status) -> None:
        # Real-time audio thread: copy, count, return. Nothing that can block.
        if status.input_overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait((indata[:, 0].copy(), time.monotonic()))
        except queue.Full:
            self.overflows += 1

    def _active(self) -> bool:
        try:
            return bool(self._stream.active)
        except Exception:  # PortAudio reports a vanished device as an error here
            return False

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()  # abort, not stop: a vanished device may never drain
                self._stream.close()
            except Exception:  # PortAudio errors on a dead device are expected here
                pass
            self._stream = None

    def blocks(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float]]:
        """Yield 16 kHz blocks until ``stop`` is set; reopens a lost device with backoff.

        Raises:
            DeviceError: the device was lost and is not back, after
                :data:`GIVE_UP_S` or when ``stop`` is set while it is lost.
        """
        if self._stream is None:
            self.open()
        last_audio = time.monotonic()
        while not stop.is_set():
            try:
                block, captured = self._queue.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() - last_audio > STALL_S or not self._active():
                    self._reconnect(stop)
                    last_audio = time.monotonic()
                continue
            last_audio = time.monotonic()
            if self._resampler is not None:
                block = self._resampler.resample_chunk(block)
            if len(block):
                yield block, captured

    def _reconnect(self, stop: threading.Event) -> None:
        """Reopen the lost device, with backoff, until it is back.

        Raises:
            DeviceError: ``stop`` was set, or :data:`GIVE_UP_S` passed, first.
        """
        sd = _sounddevice()
        name = self.name
        self.close()
        lost_at = time.monotonic()
        for attempt in itertools.count(1):
            wait = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
            if stop.is_set() or time.monotonic() - lost_at + wait > GIVE_UP_S:
                break
            self.on_status(f"input device {name!r} lost; retrying in {wait} s (attempt {attempt})")
            if stop.wait(wait):
                break
            # PortAudio lists devices only at initialisation; restart it to see
            # a device that was unplugged and plugged back in.
            sd._terminate()
            sd._initialize()
            try:
                self.open()
            except DeviceError:
                continue
            self.on_status(None)
            return
        raise DeviceError(f"input device {name!r} was lost and not back after {time.monotonic() - lost_at:.0f} s; "
                          "the session ended without it: check the microphone and the sound server, "
                          "or pick another device with --device")


class FilePlayer:
    """A file streamed at real-time pace (times ``speed``), as if it were a microphone."""

    def __init__(self, path: str | Path, target_rate: int = 16000, speed: float = 1.0):
        self.path = Path(path)
        self.name = self.path.name
        self.target_rate = target_rate
        self.speed = speed
        self.overflows = 0  # a file never overflows; kept for the display

    def open(self) -> None:
        """Check that the file opens as audio, before any display starts.

        Raises:
            AudioError: missing or unreadable file (damage later in the file
                surfaces as AudioError from :meth:`blocks`).
        """
        check_readable(self.path)

    def close(self) -> None:
        """Nothing to close."""

    def blocks(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float]]:
        began = time.monotonic()
        played = 0
        for block in stream_audio(self.path, self.target_rate, BLOCK_S):
            played += len(block)
            # Release each block when its last sample would have been heard.
            if stop.wait(max(0.0, began + played / self.target_rate / self.speed - time.monotonic())):
                return
            yield block, time.monotonic()
