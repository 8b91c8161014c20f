"""The write policy (livesense.writing) through the real CLI: no file livesense
writes (profile, session log, timeline PNG) may land on an input or on anything
but a regular file; each refusal is one line on stderr, exit 2, and leaves what
was at the path exactly as it was."""
from __future__ import annotations

import os
import shutil
import stat

import pytest

from livesense.cli import EXIT_OK, EXIT_USAGE, main

from .runtime_support import SAMPLES


def _refused(capsys, argv: list[str], path) -> str:
    """Run ``argv``: it must refuse with one line naming ``path``; that line."""
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err, err
    return err


@pytest.fixture
def recording(tmp_path):
    """A copy of the demo recording (enough speech to calibrate)."""
    path = tmp_path / "take.flac"
    shutil.copyfile(SAMPLES / "demo.flac", path)
    return path


def _non_regular_paths(tmp_path, target):
    """Paths that are not regular files, each with a check that it is still what it was."""
    link = tmp_path / "link.json"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    paths = [(link, lambda: link.is_symlink() and os.readlink(link) == str(target)),
             (fifo, lambda: stat.S_ISFIFO(os.lstat(fifo).st_mode)),
             (folder, lambda: folder.is_dir())]
    if os.path.exists("/dev/full"):
        paths.append(("/dev/full", lambda: stat.S_ISCHR(os.lstat("/dev/full").st_mode)))
    return paths


def test_calibrate_never_writes_over_a_link_fifo_folder_or_device(tmp_path, capsys, tiny_model_path, recording):
    other = tmp_path / "other.json"
    other.write_text("the user's file")
    for path, unchanged in _non_regular_paths(tmp_path, other):
        err = _refused(capsys, ["calibrate", "--file", str(recording), "--model", str(tiny_model_path), "-o", str(path)],
                       path)
        assert "not a regular file" in err
        assert unchanged()
    assert other.read_text() == "the user's file"


def test_calibrate_never_writes_over_its_recording(tmp_path, capsys, tiny_model_path, recording):
    original = recording.read_bytes()
    hard_link = tmp_path / "hard.json"
    os.link(recording, hard_link)
    via_link = tmp_path / "via_link.flac"
    via_link.symlink_to(recording)
    for given, output in ((recording, recording), (recording, hard_link), (via_link, recording)):
        err = _refused(capsys, ["calibrate", "--file", str(given), "--model", str(tiny_model_path), "-o", str(output)],
                       output)
        assert "is also an input" in err
    assert recording.read_bytes() == original
    # What may be written is written, and leaves no temporary file behind.
    profile = tmp_path / "me.json"
    assert main(["calibrate", "--file", str(recording), "--model", str(tiny_model_path), "-o", str(profile)]) == EXIT_OK
    assert profile.read_text().startswith('{"format": "livesense-profile-1"')
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _demo(model, clip, log) -> list[str]:
    return ["demo", "--json", "--speed", "40", "--duration", "2", "--model", str(model), "--clip", str(clip),
            "--log", str(log)]


def test_a_session_log_is_never_its_clip_nor_a_non_regular_file(tmp_path, capsys, tiny_model_path, recording):
    original = recording.read_bytes()
    hard_link = tmp_path / "hard.jsonl"
    os.link(recording, hard_link)
    for log in (recording, hard_link):
        assert "is also an input" in _refused(capsys, _demo(tiny_model_path, recording, log), log)
    assert recording.read_bytes() == original
    for log, unchanged in _non_regular_paths(tmp_path, recording):
        assert "not a regular file" in _refused(capsys, _demo(tiny_model_path, recording, log), log)
        assert unchanged()
    assert recording.read_bytes() == original


def test_the_timeline_png_is_never_a_log_nor_a_link(tmp_path, capsys, tiny_model_path):
    log = tmp_path / "session.jsonl"
    assert main(_demo(tiny_model_path, SAMPLES / "demo.flac", log)) == EXIT_OK
    capsys.readouterr()
    written = log.read_bytes()
    named_png = tmp_path / "session.png"  # the default --png of a log named like this
    os.link(log, named_png)
    for argv, png in ((["report", str(named_png)], named_png),
                      (["report", str(log), "--png", str(named_png)], named_png)):
        assert "is also an input" in _refused(capsys, argv, png)
    link = tmp_path / "link.png"
    link.symlink_to(log)
    assert "symbolic link" in _refused(capsys, ["report", str(log), "--png", str(link)], link)
    assert log.read_bytes() == written and link.is_symlink()
