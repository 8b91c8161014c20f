"""Audio decoding: any soundfile format and rate in, 16 kHz mono float32 out.

:func:`read_audio` returns a whole file (for training clips); :func:`stream_audio`
yields it in blocks with a streaming resampler, so a recording of any length is
analysed in constant memory. Both resample with soxr, so they agree sample for
sample up to the resampler's streaming edge effects (none at integer ratios).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")


class AudioError(Exception):
    """A file that cannot be read as audio; the message names the file and the cause."""


def _open(path: str | Path) -> sf.SoundFile:
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    try:
        return sf.SoundFile(str(path))
    except PermissionError:
        raise AudioError(f"{path}: permission denied") from None
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"{path}: not a readable audio file ({_short(err)})") from None


def _short(err: Exception) -> str:
    return str(err).split("\n")[0].replace(f"Error opening {err.args[0]!r}: " if err.args else "", "")


def _to_mono(block: np.ndarray) -> np.ndarray:
    return block.mean(axis=1) if block.ndim == 2 else block


def _check_finite(block: np.ndarray, path) -> np.ndarray:
    if not np.all(np.isfinite(block)):
        raise AudioError(f"{path}: contains NaN or infinite samples")
    return block


def stream_audio(
    path: str | Path, sample_rate: int = 16000, block_seconds: float = 1.0
) -> Iterator[np.ndarray]:
    """Yield a file's audio as float32 mono blocks at ``sample_rate`` Hz.

    Args:
        path: any format libsndfile reads (wav, flac, ogg, aiff, ...).
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
        while True:
            try:
                block = f.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise AudioError(f"{path}: corrupt audio data ({err})") from None
            last = len(block) < block_frames
            mono = _check_finite(_to_mono(block), path)
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
