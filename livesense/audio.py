"""Audio decoding: any soundfile format and rate in, 16 kHz mono float32 out.

:func:`read_audio` returns a whole file (for training clips); :func:`stream_audio`
yields it in blocks with a streaming resampler, so a recording of any length is
analysed in constant memory. Both resample with soxr, so they agree sample for
sample up to the resampler's streaming edge effects (none at integer ratios).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")


class AudioError(Exception):
    """A file that cannot be read as audio; the message names the file and the cause."""


def _open(path: str | Path | int) -> sf.SoundFile:
    if isinstance(path, int):
        try:
            # closefd=False: the descriptor (standard input, say) belongs to the caller.
            return sf.SoundFile(path, closefd=False)
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
            raise AudioError(f"{describe(path)}: not audio livesense can read from a pipe ({_short(err)}); pipe WAV, "
                             "e.g. 'sox in.mp3 -t wav - | livesense file -', or give a file") from None
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    try:
        # libsndfile reports a permission problem as a vague "System error".
        with open(path, "rb"):
            pass
    except PermissionError:
        raise AudioError(f"{path}: permission denied; make the file readable (chmod +r) "
                         "or run livesense as a user who can read it") from None
    except OSError as err:
        raise AudioError(f"{path}: cannot read the file ({err.strerror or err})") from None
    try:
        # Bytes: soundfile encodes a str name strictly, and a name that is not
        # valid UTF-8 (surrogate-escaped by Python) would fail to encode.
        name = os.fsencode(path)
        # libsndfile reads a file named "-" as standard input.
        return sf.SoundFile(b"./-" if name == b"-" else name)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"{path}: not an audio file livesense can read ({_short(err)}); "
                         "convert it to WAV or FLAC, e.g. with ffmpeg or sox") from None


def describe(path: str | Path | int) -> str:
    """How messages name an audio source: its path, or "standard input" for descriptor 0."""
    return ("standard input" if path == 0 else f"file descriptor {path}") if isinstance(path, int) else str(path)


def check_readable(path: str | Path) -> None:
    """Raise :class:`AudioError` now if ``path`` cannot be opened as audio."""
    _open(path).close()


def _short(err: Exception) -> str:
    """libsndfile's reason without its "Error opening 'path': " prefix."""
    text = str(err).split("\n")[0]
    return re.sub(r"^Error opening .*?: ", "", text).rstrip(".") or type(err).__name__


def _to_mono(block: np.ndarray) -> np.ndarray:
    if block.ndim == 1:
        return block
    # A mono file's one column as is: the mean over one channel is the same
    # samples but costs about a twentieth of the analysis time in `livesense file`.
    return block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)


def _check_finite(block: np.ndarray, path, position: int, rate: int) -> np.ndarray:
    """``block`` (mono, starting at sample ``position``) if all its samples are finite."""
    bad = ~np.isfinite(block)
    if bad.any():
        at = (position + int(np.argmax(bad))) / rate
        raise AudioError(f"{describe(path)}: NaN or infinite sample at {at:.2f} s, the recording is damaged; "
                         "re-export it from its source")
    return block


def stream_audio(
    path: str | Path | int, sample_rate: int = 16000, block_seconds: float = 1.0
) -> Iterator[np.ndarray]:
    """Yield a file's audio as float32 mono blocks at ``sample_rate`` Hz.

    Args:
        path: any format libsndfile reads (wav, flac, ogg, aiff, ...), or an open
            file descriptor (0: standard input), read as a stream: from a pipe,
            which cannot seek, libsndfile reads WAV only.
        sample_rate: output rate in Hz (default 16000).
        block_seconds: length of each block read from the file, in seconds of
            source audio; output blocks vary slightly in length around it.
    Raises:
        AudioError: unreadable, corrupt or non-finite audio.
    """
    with _open(path) as f:
        resampler = (
            None
            if f.samplerate == sample_rate
            else soxr.ResampleStream(f.samplerate, sample_rate, 1, dtype="float32", quality="HQ")
        )
        block_frames = max(1, int(f.samplerate * block_seconds))
        position = 0
        while True:
            try:
                block = f.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioError(f"{describe(path)}: corrupt audio data after {position / f.samplerate:.1f} s "
                                 f"({_short(err)}); re-export or repair the file") from None
            last = len(block) < block_frames
            mono = _check_finite(_to_mono(block), path, position, f.samplerate)
            position += len(block)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield mono.astype(np.float32, copy=False)
            if last:
                return


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Read a whole file as float32 mono at ``sample_rate`` Hz, shape (n,)."""
    blocks = list(stream_audio(path, sample_rate, block_seconds=60.0))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
