"""Archives (issue 18), end to end on real clips through the real CLI: `file --jobs`,
`batch` to Parquet and JSON lines (interrupted, killed and resumed), and a Dask
`LocalCluster` with two worker processes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from livesense.audio import read_audio
from livesense.cli import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main

from .runtime_support import ROOT, SAMPLES

FORMATS = {"json": ["--json"], "csv": ["--csv"], "table": []}


def livesense(*args, timeout=300) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: a fresh interpreter, real stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "livesense", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def started(*args, sigint=signal.SIG_DFL, stdout=subprocess.PIPE) -> subprocess.Popen:
    """The command, running, with Ctrl-C's default disposition (or ``sigint``): a test
    run started in the background of a shell without job control would otherwise pass
    on SIGINT ignored, which Python then keeps ignoring, as a background job should."""
    return subprocess.Popen([sys.executable, "-m", "livesense", *map(str, args)], cwd=ROOT,
                            stdout=stdout, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))


@pytest.fixture(scope="module")
def archive(datasets, tmp_path_factory) -> Path:
    """A small archive of real recordings: 60 CREMA-D and 12 RAVDESS clips in
    subfolders, and the bundled samples."""
    root = tmp_path_factory.mktemp("archive")
    for name, clips in (("cremad", sorted((datasets / "cremad" / "AudioWAV").glob("*.flac"))[::18][:60]),
                        ("ravdess", sorted((datasets / "ravdess").glob("Actor_0[12]/*.flac"))[::10][:12])):
        (root / name).mkdir()
        for clip in clips:
            shutil.copy(clip, root / name / clip.name)
    shutil.copytree(SAMPLES, root / "samples", ignore=shutil.ignore_patterns("*.md"))
    return root


@pytest.fixture(scope="module")
def copies(archive, tmp_path_factory) -> Path:
    """Six copies of the archive (same sizes and times): enough work for an
    interrupt to land midway, also after the first Parquet part is written."""
    root = tmp_path_factory.mktemp("copies")
    for copy in range(6):
        shutil.copytree(archive, root / str(copy))
    return root


def files_of(archive: Path) -> list[Path]:
    return sorted(archive.rglob("*.flac"))


# ---------------------------------------------------------------- file --jobs


@pytest.mark.parametrize("fmt", FORMATS)
def test_jobs_print_what_one_job_prints_in_every_format(tmp_path, archive, fmt):
    """Worker processes change nothing in the output, failures included: a missing
    file and one damaged midway get the same lines and the same exit code."""
    damaged = tmp_path / "damaged.wav"
    sf.write(str(damaged), read_audio(SAMPLES / "demo.flac"), 16000, subtype="PCM_16")
    damaged.write_bytes(damaged.read_bytes()[: 44 + 2 * 16000 * 12])  # header says 30 s, holds 12
    inputs = [archive, damaged, tmp_path / "missing.wav", SAMPLES / "1058_IWL_ANG_XX.flac"]
    one = livesense("file", *FORMATS[fmt], "--jobs", "1", *inputs)
    assert one.returncode == EXIT_INPUT and len(one.stdout.splitlines()) > 200
    for jobs in ("2", "0"):
        many = livesense("file", *FORMATS[fmt], "--jobs", jobs, *inputs)
        assert (many.returncode, many.stdout, many.stderr) == (one.returncode, one.stdout, one.stderr), jobs


def test_ctrl_c_on_jobs_keeps_every_file_finished(copies):
    """Ctrl-C while workers run: exit 130 with every finished file printed whole
    (windows and verdict), each as --jobs 1 prints it, in input order; workers gone."""
    inputs = [str(path) for path in files_of(copies)]
    reference = records_by_file(livesense("file", "--json", *inputs).stdout)
    proc = started("file", "--json", "--jobs", "2", *inputs)
    first = proc.stdout.readline()  # the first file is printed: stop now
    workers = children(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.stdout.read(), proc.stderr.read()  # (communicate() would skip what readline buffered)
    proc.wait(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED and err == "livesense: interrupted\n", err
    got = records_by_file(first + out)
    assert 0 < len(got) < len(reference)
    assert list(got) == sorted(got, key=inputs.index)  # in input order, gaps allowed (files still running)
    for path, records in got.items():
        assert records == reference[path], path  # whole, as --jobs 1 has it
    assert len(workers) == 2 and not [pid for pid in workers if alive(pid)]


def test_ctrl_c_ignored_as_by_a_background_job_stays_ignored(copies, tmp_path):
    """Started with SIGINT ignored (a background job of a shell without job control),
    Ctrl-C changes nothing, also while finished files are being printed: every file,
    exit 0."""
    inputs = [str(path) for path in files_of(copies)]
    with open(tmp_path / "out.jsonl", "w+") as out:
        proc = started("file", "--json", "--jobs", "2", *inputs, sigint=signal.SIG_IGN, stdout=out)
        while proc.poll() is None:  # Ctrl-C, again and again, until it ends
            proc.send_signal(signal.SIGINT)
            time.sleep(0.001)
        err = proc.stderr.read()
        out.seek(0)
        printed = out.read()
    assert proc.returncode == EXIT_OK, err
    assert list(records_by_file(printed)) == inputs


def test_a_worker_that_dies_is_one_error_line_and_the_finished_files_stay(copies):
    """A worker killed midway (as a crash in a native decoder or the OOM killer would):
    one error line naming the files it had, exit 1, every file finished printed whole."""
    inputs = [str(path) for path in files_of(copies)]
    reference = records_by_file(livesense("file", "--json", *inputs).stdout)
    proc = started("file", "--json", "--jobs", "2", *inputs)
    first = proc.stdout.readline()
    os.kill(children(proc.pid)[0], signal.SIGKILL)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == EXIT_INPUT, err
    [line] = err.splitlines()
    assert line.startswith("livesense: a worker process died while analysing ") and "--jobs 1" in line
    got = records_by_file(first + out)
    assert 0 < len(got) < len(reference)
    for path, records in got.items():
        assert records == reference[path], path


def records_by_file(text: str) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = {}
    for line in text.splitlines():
        record = json.loads(line)
        records.setdefault(record["file"], []).append(record)
    return records


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (its workers), once it has started them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
        if found:
            return sorted(found)
        time.sleep(0.01)
    raise AssertionError(f"process {parent} started no worker")


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------- batch


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["type"] == "meta"
    return lines[1:]


def by_file(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows per file path, each file's in their order; checks each file is there once."""
    files: dict[str, list[dict]] = {}
    for row in rows:
        files.setdefault(row["path"], []).append(row)
    for path, file_rows in files.items():
        assert [row["type"] for row in file_rows].count("file") == 1, path
        assert file_rows[-1]["type"] == "file", path
    return files


@pytest.fixture(scope="module")
def reference(archive, tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    """Uninterrupted `batch --jobs 1` results, per format (and under "meta", each
    format's metadata)."""
    out = tmp_path_factory.mktemp("reference")
    result = {"meta": {}}
    for suffix in (".jsonl", ".parquet"):
        path = out / f"results{suffix}"
        done = livesense("batch", archive, "--out", path)
        assert done.returncode == EXIT_OK, done.stderr
        result[suffix] = by_file(read_rows(path))
        result["meta"][suffix] = (json.loads(pq.read_schema(path).metadata[b"livesense"]) if suffix == ".parquet"
                                  else json.loads(path.read_text().splitlines()[0]))
    assert len(result[".jsonl"]) == len(files_of(archive))
    return result


def test_batch_rows_hold_what_file_prints_and_the_run_is_described(archive, reference):
    """A window row for every window `file --json` prints, with its values; a file
    row with the verdict; the model, its version and the options in the metadata."""
    printed = records_by_file(livesense("file", "--json", *files_of(archive)).stdout)
    for suffix in (".jsonl", ".parquet"):
        for path, rows in reference[suffix].items():
            *windows, verdict = printed[path]
            assert [(round(r["start_s"], 3), round(r["end_s"], 3), r["label"], r["raw_label"]) for r in rows[:-1]] == \
                   [(w["start"], w["end"], w["label"], w["raw_label"]) for w in windows], path
            assert [None if r["p_angry"] is None else round(r["p_angry"], 4) for r in rows[:-1]] == \
                   [w["probabilities"] and w["probabilities"]["angry"] for w in windows], path
            assert (rows[-1]["label"], round(rows[-1]["speech_s"], 3)) == (verdict["label"], verdict["speech_s"])
            assert rows[-1]["size"] == os.stat(path).st_size and rows[-1]["error"] is None
        meta = reference["meta"][suffix]
        assert meta["model"] == "ensemble" and len(meta["model_version"]) == 16 and meta["profile"] is None
        assert meta["options"] == {"speech_threshold": 0.3, "smoothing": 0.4, "file_batch": 8}
        assert meta["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_batch_stopped_midway_and_rerun_has_every_file_once(tmp_path, archive, copies, reference, suffix, stop):
    """Stopped halfway (Ctrl-C, or SIGKILL: no chance to tidy up) and rerun: every file
    is in the results exactly once, with the rows an uninterrupted run gives; the
    rerun analyses only the files that were not written."""
    out = tmp_path / f"results{suffix}"
    # One job: Parquet parts are written every second, and two jobs finish the copies in about one.
    proc = started("batch", copies, "--out", out)
    deadline = time.monotonic() + 60
    while written_files(out) < 5 and time.monotonic() < deadline:  # some files written, not all
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT if stop == "ctrl-c" else signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    before = written_files(out)
    if stop == "ctrl-c":
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert err.splitlines()[-1] == "livesense: interrupted" and "run the same command again" in err
        assert 5 <= before < len(files_of(copies))
    rerun = livesense("batch", copies, "--out", out, "--jobs", "2")
    assert rerun.returncode == EXIT_OK, rerun.stderr
    if stop == "ctrl-c":
        analysed = len(files_of(copies)) - before
        assert f"{analysed} files analysed" in rerun.stderr and f"{before} files already there skipped" in rerun.stderr
    files = by_file(read_rows(out))
    assert sorted(files) == [str(path) for path in files_of(copies)]
    for path, rows in files.items():  # each copy has its original's rows
        original = str(archive / Path(path).relative_to(copies).relative_to(Path(path).relative_to(copies).parts[0]))
        assert [{**row, "path": original} for row in rows] == reference[suffix][original], path
    assert not out.with_name(out.name + ".parts").exists()


def written_files(out: Path) -> int:
    """Files whose rows are in ``out`` or its Parquet parts so far."""
    if out.suffix == ".jsonl":
        if not out.exists():
            return 0
        return sum(1 for line in out.read_text().splitlines() if line.endswith("}") and '"type": "file"' in line)
    parts = out.with_name(out.name + ".parts")
    count = 0
    for part in [out] * out.exists() + (sorted(parts.glob("part-*.parquet")) if parts.exists() else []):
        try:
            count += pq.read_table(part, columns=["type"]).column("type").to_pylist().count("file")
        except OSError:  # renamed into place meanwhile
            pass
    return count


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_batch_redoes_changed_files_retries_unreadable_ones_and_refuses_another_model(tmp_path, suffix):
    """A file changed since it was analysed is analysed again and its old rows go; a
    file that could not be opened gets no row and is tried again; a file damaged
    midway keeps its windows and says why; another model may not add to the results."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    clip = folder / "a.flac"
    shutil.copy(SAMPLES / "1058_IWL_ANG_XX.flac", clip)
    (folder / "b.wav").write_bytes(b"RIFF not really audio")
    damaged = folder / "c.wav"
    sf.write(str(damaged), read_audio(SAMPLES / "demo.flac"), 16000, subtype="PCM_16")
    damaged.write_bytes(damaged.read_bytes()[: 44 + 2 * 16000 * 12])
    out = tmp_path / f"results{suffix}"

    first = livesense("batch", folder, "--out", out)
    assert first.returncode == EXIT_INPUT
    errors = [line for line in first.stderr.splitlines() if line.startswith("livesense:")]
    assert len(errors) == 2 and "b.wav: not an audio file" in errors[0] and "c.wav: truncated" in errors[1]
    files = by_file(read_rows(out))
    assert set(files) == {str(clip), str(damaged)}
    assert "truncated" in files[str(damaged)][-1]["error"] and len(files[str(damaged)]) == 22  # 21 windows in 12 s

    sf.write(str(clip), read_audio(SAMPLES / "demo.flac")[: 16000 * 5], 16000)  # changed: 5 s now
    second = livesense("batch", folder, "--out", out)
    assert second.returncode == EXIT_INPUT and "1 files analysed" in second.stderr  # a.flac again; b.wav tried
    assert "b.wav: not an audio file" in second.stderr and "1 files already there skipped" in second.stderr
    files = by_file(read_rows(out))
    assert set(files) == {str(clip), str(damaged)} and files[str(clip)][-1]["end_s"] == 5.0

    other = livesense("batch", folder, "--out", out, "--model", "cnn")
    assert other.returncode == EXIT_USAGE and "model_version" in other.stderr
    assert len(other.stderr.splitlines()) == 1 and by_file(read_rows(out)) == files


def test_batch_refuses_other_extensions_and_its_own_inputs(tmp_path):
    for out, why in ((tmp_path / "results.csv", "Parquet or JSON lines"),
                     (SAMPLES / "demo.flac", "Parquet or JSON lines")):
        result = livesense("batch", SAMPLES, "--out", out)
        assert result.returncode == EXIT_USAGE and why in result.stderr and len(result.stderr.splitlines()) == 1
    link = tmp_path / "results.jsonl"
    link.symlink_to(tmp_path / "elsewhere.jsonl")
    result = livesense("batch", SAMPLES, "--out", link)
    assert result.returncode == EXIT_USAGE and "symbolic link" in result.stderr


def test_scheduler_without_the_cluster_extra_names_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: import fails
    out = tmp_path / "results.jsonl"
    code = main(["batch", str(SAMPLES), "--out", str(out), "--scheduler", "tcp://127.0.0.1:8786"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and err.count("\n") == 1 and "pip install 'livesense[cluster]'" in err
    assert not out.exists()


def test_batch_on_a_local_dask_cluster_gives_the_same_rows(tmp_path, archive, reference):
    """Two Dask worker processes (a LocalCluster, as the README shows) give the rows
    of `--jobs 1`, in the same order."""
    distributed = pytest.importorskip("distributed", reason="the [cluster] extra (dask.distributed) is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        for suffix in (".parquet", ".jsonl"):
            out = tmp_path / f"results{suffix}"
            result = livesense("batch", archive, "--out", out, "--scheduler", cluster.scheduler_address)
            assert result.returncode == EXIT_OK, result.stderr
            assert by_file(read_rows(out)) == reference[suffix]
            assert list(by_file(read_rows(out))) == list(reference[suffix])  # input order


def test_batch_on_dask_stopped_midway_and_rerun_has_every_file_once(tmp_path, archive, copies, reference):
    """Ctrl-C during a Dask run: the files finished on the cluster are written, and a
    rerun on the cluster completes the results, every file once."""
    distributed = pytest.importorskip("distributed", reason="the [cluster] extra (dask.distributed) is not installed")
    out = tmp_path / "results.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        proc = started("batch", copies, "--out", out, "--scheduler", cluster.scheduler_address)
        deadline = time.monotonic() + 120
        while written_files(out) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == EXIT_INTERRUPTED and "run the same command again" in err, err
        before = written_files(out)
        assert 5 <= before < len(files_of(copies))
        rerun = livesense("batch", copies, "--out", out, "--scheduler", cluster.scheduler_address)
    assert rerun.returncode == EXIT_OK and f"{before} files already there skipped" in rerun.stderr, rerun.stderr
    files = by_file(read_rows(out))
    assert sorted(files) == [str(path) for path in files_of(copies)]


def test_parquet_parts_left_by_a_killed_run_win_and_never_duplicate(tmp_path):
    """What a run killed at the wrong moment leaves: a part with the new analysis of a
    file changed since the output was written, and a part that is a copy of the whole
    output (killed between the merge and the removal of the parts). The next run keeps
    each file once, from its newest analysis."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    for sample in ("1058_IWL_ANG_XX.flac", "1058_TAI_SAD_XX.flac"):
        shutil.copy(SAMPLES / sample, folder / sample)
    out, changed_only = tmp_path / "results.parquet", tmp_path / "changed.parquet"
    assert livesense("batch", folder, "--out", out).returncode == EXIT_OK
    changed = folder / "1058_TAI_SAD_XX.flac"
    sf.write(str(changed), read_audio(SAMPLES / "demo.flac")[: 16000 * 6], 16000)
    assert livesense("batch", changed, "--out", changed_only).returncode == EXIT_OK
    parts = tmp_path / "results.parquet.parts"
    parts.mkdir()
    shutil.copy(changed_only, parts / "part-000000.parquet")  # the new analysis, never merged
    shutil.copy(out, parts / "part-000001.parquet")  # the old output again ...
    shutil.copy(changed_only, parts / "part-000002.parquet")  # ... and the new one after it
    rerun = livesense("batch", folder, "--out", out)
    assert rerun.returncode == EXIT_OK and "nothing to analyse: all 2 files" in rerun.stderr, rerun.stderr
    files = by_file(read_rows(out))
    assert sorted(files) == sorted(str(path) for path in folder.iterdir())
    assert files[str(changed)] == by_file(read_rows(changed_only))[str(changed)]
    assert files[str(changed)][-1]["end_s"] == 6.0 and not parts.exists()


def test_the_block_size_of_file_reads_changes_no_sample(tmp_path):
    """Files are read 8 s at a time (1 s before): resampled, multichannel and lossy
    files give the same samples whatever the block, so the same windows."""
    from livesense.audio import stream_audio

    audio = read_audio(SAMPLES / "demo.flac")
    sources = {tmp_path / "a.flac": (48000, 2, "PCM_24"), tmp_path / "b.wav": (22050, 1, "PCM_16"),
               tmp_path / "c.ogg": (44100, 1, "VORBIS")}
    for path, (rate, channels, subtype) in sources.items():
        import soxr

        resampled = soxr.resample(audio, 16000, rate)
        sf.write(str(path), np.stack([resampled] * channels, axis=1), rate, subtype=subtype)
        blocks = {block_s: np.concatenate(list(stream_audio(path, 16000, block_s))) for block_s in (1.0, 8.0, 3.3)}
        assert np.array_equal(blocks[1.0], blocks[8.0]) and np.array_equal(blocks[1.0], blocks[3.3]), path


def test_in_a_dask_worker_s_environment_large_arrays_come_from_the_heap_again():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ for its workers, which freezes glibc's
    mmap threshold: every array over 128 KiB is then fresh pages from the system (page
    faults each time, analysis 1.5 times as long). After the worker's recognizer is
    made, reusing a 1 MiB array's memory costs no new page faults."""
    probe = (
        "import resource, numpy as np\n"
        "from livesense.parallel import AnalysisOptions, _recognizer\n"
        "def faults():\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(50):\n"
        "        np.ones(2**17)\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
        "frozen = faults()\n"
        "_recognizer(AnalysisOptions())\n"
        "faults()\n"
        "print(frozen, faults())\n"
    )
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    frozen, after = map(int, done.stdout.split())
    assert frozen >= 50 * 200 and after < 50, (frozen, after)  # 256 pages a fresh 1 MiB array
