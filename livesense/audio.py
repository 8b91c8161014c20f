"""Audio decoding: any soundfile format and rate in, 16 kHz mono float32 out.

:func:`read_audio` returns a whole file (for training clips); :func:`stream_audio`
yields it in blocks with a streaming resampler, so a recording of any length is
analysed in constant memory. Both resample with soxr, so they agree sample for
sample up to the resampler's streaming edge effects (none at integer ratios).
"""
from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")


class AudioError(Exception):
    """A file that cannot be read as audio; the message names the file and the cause."""


def _unreadable(name: str, err: Exception, piped: bool) -> AudioError:
    """The error for a source libsndfile cannot open: from a pipe, which cannot
    seek, it reads WAV only, so the advice differs from a file's."""
    if piped:
        return AudioError(f"{name}: not audio livesense can read from a pipe ({_short(err)}); pipe WAV, "
                          "e.g. 'sox in.mp3 -t wav - | livesense file -', or give a file")
    return AudioError(f"{name}: not an audio file livesense can read ({_short(err)}); "
                      "convert it to WAV or FLAC, e.g. with ffmpeg or sox")


def _open(path: str | Path | int) -> sf.SoundFile:
    if isinstance(path, int):
        try:
            # closefd=False: the descriptor (standard input, say) belongs to the caller.
            return sf.SoundFile(path, closefd=False)
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
            raise _unreadable(describe(path), err, piped=True) from None
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file; check the path") from None
    except PermissionError as err:  # a directory on the way cannot be entered
        raise AudioError(f"{path}: cannot reach the file ({err.strerror}); make its directory enterable "
                         "(chmod +x) or run livesense as a user who can") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise AudioError(f"{path}: is a symlink loop (links that lead back to themselves); "
                             "point the link at an audio file") from None
        raise AudioError(f"{path}: cannot read the file ({err.strerror or err})") from None
    if stat.S_ISDIR(mode):
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
        raise _unreadable(str(path), err, piped=stat.S_ISFIFO(mode)) from None


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


def _first_non_finite(block: np.ndarray) -> int | None:
    """Index of ``block``'s first NaN or infinite sample, or None."""
    bad = ~np.isfinite(block)
    return int(np.argmax(bad)) if bad.any() else None


# Frames per libsndfile read where a read has met damage: such a read returns
# nothing, so reads this small keep all but at most this many frames of the audio
# before the damage. Undamaged files are read a block at a time (reads of 1024
# frames cost more in Python than in libsndfile: a fifth of `livesense file`).
READ_FRAMES = 1024

# Sizes from here up are placeholders, not claims: a writer that cannot seek back
# (a pipe) leaves the largest size in the header (0xFFFFFFFF, 0x7FFFF000, ...).
_PLACEHOLDER_SIZE = 2**31 - 2**16
# libsndfile's frame count of a FLAC whose header leaves the length open.
_UNKNOWN_FRAMES = 2**62


def _announced_frames(f: sf.SoundFile) -> int | None:
    """Frames the header announces, where a file can tell (it can seek, and it says).

    A FLAC's count is libsndfile's ``frames`` as is; for WAV, W64, RF64 and AIFF
    libsndfile corrects ``frames`` to what the file holds and notes each size
    it corrected in its log, as "data : 96000 (should be 80000)".
    """
    if not f.seekable() or f.frames >= _UNKNOWN_FRAMES:
        return None
    ratios = [int(said) / int(held) for said, held in re.findall(r":\s*(\d+) \(should be (\d+)\)", f.extra_info)
              if 0 < int(held) < int(said) < _PLACEHOLDER_SIZE]
    return int(f.frames * max(ratios, default=1.0))


def _read(f: sf.SoundFile, frames: int, path, position: int) -> tuple[np.ndarray, AudioError | None]:
    """Up to ``frames`` frames from sample ``position`` on, and the error that
    stopped the read early, if any. A file named by its path is read in one call;
    should that meet damage, the frames up to it are read again by
    :func:`_read_to_damage`. A stream (a descriptor) is read in pieces."""
    if isinstance(path, int):
        return _read_pieces(f, frames, path, position)
    try:
        return f.read(frames, dtype="float32", always_2d=True), None
    except (sf.LibsndfileError, RuntimeError):
        return _read_to_damage(path, frames, position)


def _read_to_damage(path: str | Path, frames: int, position: int) -> tuple[np.ndarray, AudioError]:
    """:func:`_read` where a read of a block met damage: a decoder that lost its
    way cannot seek back (a damaged FLAC's cannot), so a fresh one reads the file
    again up to ``position`` (those reads succeeded before), then the block in
    :data:`READ_FRAMES` pieces, keeping every frame before the damage. The damage
    ends the file here even should the fresh decoder get past it."""
    with _open(path) as f:
        try:
            skipped = 0
            while skipped < position:
                got = len(f.read(min(position - skipped, 1 << 20), dtype="float32", always_2d=True))
                if not got:  # the file changed since: it ends before the block
                    break
                skipped += got
        except (sf.LibsndfileError, RuntimeError) as err:
            return np.zeros((0, f.channels), np.float32), _corrupt(path, position / f.samplerate, err)
        block, damage = _read_pieces(f, frames, path, position)
        return block, damage or _corrupt(path, (position + len(block)) / f.samplerate, None)


def _corrupt(path, at_s: float, err: Exception | None) -> AudioError:
    reason = f" ({_short(err)})" if err is not None else ""
    return AudioError(f"{describe(path)}: corrupt audio data after {at_s:.1f} s{reason}; re-export or repair the file")


def _read_pieces(f: sf.SoundFile, frames: int, path, position: int) -> tuple[np.ndarray, AudioError | None]:
    """:func:`_read` in :data:`READ_FRAMES` pieces."""
    pieces, got = [np.zeros((0, f.channels), np.float32)], 0
    while got < frames:
        try:
            piece = f.read(min(READ_FRAMES, frames - got), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            return np.concatenate(pieces), _corrupt(path, (position + got) / f.samplerate, err)
        if not len(piece):
            break
        pieces.append(piece)
        got += len(piece)
    return np.concatenate(pieces), None


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
        AudioError: unreadable, corrupt, truncated or non-finite audio; raised
            after every block before the fault is yielded, so a damaged file
            still gives all of its audio up to the damage.
    """
    with _open(path) as f:
        resampler = (
            None
            if f.samplerate == sample_rate
            else soxr.ResampleStream(f.samplerate, sample_rate, 1, dtype="float32", quality="HQ")
        )
        block_frames = max(1, int(f.samplerate * block_seconds))
        announced = _announced_frames(f)
        position = 0
        while True:
            block, damage = _read(f, block_frames, path, position)
            mono = _to_mono(block)
            bad = _first_non_finite(mono)
            if bad is not None:
                mono = mono[:bad]
                at = (position + bad) / f.samplerate
                damage = AudioError(f"{describe(path)}: NaN or infinite sample at {at:.2f} s, the recording is "
                                    "damaged; re-export it from its source")
            last = damage is not None or len(block) < block_frames
            position += len(mono)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield mono.astype(np.float32, copy=False)
            if damage is not None:
                raise damage
            if last:
                # A millisecond's slack: a padding byte miscounted is no missing audio.
                if announced is not None and position < announced - f.samplerate // 1000:
                    raise AudioError(f"{describe(path)}: truncated: it holds {position / f.samplerate:.1f} s of the "
                                     f"{announced / f.samplerate:.1f} s its header announces; re-export or copy "
                                     "the file again")
                return


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Read a whole file as float32 mono at ``sample_rate`` Hz, shape (n,)."""
    blocks = list(stream_audio(path, sample_rate, block_seconds=60.0))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
