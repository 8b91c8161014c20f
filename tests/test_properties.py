"""Property tests (issue 16): generated WAV files, profiles, model metadata and log
lines through the real CLI entry point, in-process. Whatever the input: never an
internal error (exit 4), exactly one line on stderr on an error and none
otherwise (native libraries included: stderr is captured at the descriptor),
and valid JSON on stdout where --json was asked.

Examples per property: ``LIVESENSE_HYPOTHESIS_EXAMPLES`` (default 50, for CI);
``LIVESENSE_PROPERTY_TALLY=FILE`` writes the count of runs per property and
exit code there, and ``LIVESENSE_PROPERTY_SURVEY=1`` counts internal errors
there instead of stopping at the first (see bench/PROPERTIES.md).
"""
from __future__ import annotations

import copy
import json
import os
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livesense.cli import EXIT_BUG, EXIT_INPUT, EXIT_OK, EXIT_USAGE, main

from .runtime_support import SAMPLES

EXAMPLES = int(os.environ.get("LIVESENSE_HYPOTHESIS_EXAMPLES", "50"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
CLIP = SAMPLES / "1058_IWL_ANG_XX.flac"  # 3 s of speech
TALLY: Counter[str] = Counter()
SURVEY = bool(os.environ.get("LIVESENSE_PROPERTY_SURVEY"))


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    if os.environ.get("LIVESENSE_PROPERTY_TALLY"):
        Path(os.environ["LIVESENSE_PROPERTY_TALLY"]).write_text(json.dumps(dict(sorted(TALLY.items())), indent=1))


def strict_json(line: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


def run(name: str, argv: list[str], capfd, allowed: set[int], json_out: bool = False) -> int:
    """``livesense argv`` in-process; checks the contract and returns the exit code."""
    code = main(argv)
    out, err = capfd.readouterr()
    TALLY[f"{name} exit {code}"] += 1
    if SURVEY and code == EXIT_BUG:
        TALLY[f"{name} internal error: {err.split(':')[2].strip()}"] += 1  # "livesense: internal error: TypeError: …"
        return code  # counted; the survey goes on
    assert code != EXIT_BUG, err
    assert code in allowed, (code, err)
    lines = err.splitlines()
    if code == EXIT_OK:
        assert lines == [], err
    else:
        assert len(lines) == 1 and lines[0].startswith("livesense: "), err
    if json_out:
        for line in out.splitlines():
            strict_json(line)
    return code


# ---------------------------------------------------------------- JSON documents, mutated

EXTREMES = st.sampled_from([0, -1, 1, 0.0, -0.0, 1e300, -1e300, 1e-300, 5e-324, 2**63, -(2**63), 10**30,
                            float("nan"), float("inf"), float("-inf")])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), EXTREMES,
                    st.text(max_size=12))
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=12)


def _paths(value, prefix: tuple = ()) -> list[tuple]:
    """Paths to every value inside ``value`` (of a list, its first two items and its last)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index in sorted({0, 1, len(value) - 1} & set(range(len(value)))):
            found += _paths(value[index], prefix + (index,))
    return found


@st.composite
def mutations(draw, base):
    """``base`` (a JSON document) as it is, or with one to three values scaled,
    replaced, dropped or resized: mostly the real structure, so that the checks
    deep inside are reached."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(document)))
        if not path:
            return draw(ANY_JSON)
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        value = parent[key]
        action = draw(st.sampled_from(["scale", "scale", "replace", "extreme", "drop", "resize"]))
        if action == "drop":
            del parent[key]
        elif action == "scale" and isinstance(value, (int, float)) and not isinstance(value, bool):
            factor = draw(st.sampled_from([0, -1, 0.5, 2, 1e3, 1e-3]) | st.floats(-1e6, 1e6))
            parent[key] = type(value)(value * factor)
        elif action == "resize" and isinstance(value, list):
            parent[key] = value[: draw(st.integers(0, len(value)))] + draw(st.lists(SCALARS, max_size=3))
        else:
            parent[key] = draw(EXTREMES if action == "extreme" else ANY_JSON)
    return document


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def texts_of(documents):
    """A document as JSON text (bare NaN/Infinity included, as Python writes them),
    or that text cut short, or a nest of brackets deeper than Python's parser
    goes, or bytes."""
    whole = documents.map(json.dumps)
    return st.one_of(
        whole, whole, whole, whole,  # mostly whole documents
        st.tuples(documents.map(json.dumps), st.floats(0, 1)).map(lambda t: t[0][: int(len(t[0]) * t[1])]),
        st.integers(1, 200_000).map(nested),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    )


# ---------------------------------------------------------------- WAV files

@st.composite
def wav_bytes(draw) -> bytes:
    """A RIFF/WAVE file of real samples whose header fields (format, channels,
    rate, bits, block and chunk sizes, extra chunks) are right or, up to four of
    them, generated; whole or cut short."""
    u16, u32 = st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1)
    channels, rate = draw(st.sampled_from([1, 2, 6])), draw(st.sampled_from([8000, 16000, 22050, 44100, 192000]))
    tag, bits = draw(st.sampled_from([(1, 16), (1, 8), (1, 24), (1, 32), (3, 32), (3, 64)]))
    frames = draw(st.integers(1, 48000))
    samples = np.sin(np.arange(frames * channels) / 7.0) * 0.6
    payload = {8: (samples * 127 + 128).astype("u1").tobytes(), 16: (samples * 32767).astype("<i2").tobytes(),
               24: b"".join(int(v).to_bytes(3, "little", signed=True) for v in (samples[:3000] * 8e6)),
               32: (samples * 2e9).astype("<i4").tobytes() if tag == 1 else samples.astype("<f4").tobytes(),
               64: samples.astype("<f8").tobytes()}[bits]
    fields = {"tag": tag, "channels": channels, "rate": rate, "byte_rate": rate * channels * bits // 8,
              "align": channels * bits // 8, "bits": bits, "fmt_size": 16, "data_size": len(payload),
              "riff_size": None, "wave": b"WAVE", "payload": payload}
    generated = {"tag": st.sampled_from([0, 2, 6, 7, 0xFFFE]) | u16, "channels": st.integers(0, 16) | u16,
                 "rate": st.sampled_from([0, 1, 4000, 384000]) | u32, "byte_rate": u32, "align": u16,
                 "bits": st.sampled_from([0, 4, 12, 48]) | u16, "fmt_size": st.sampled_from([14, 18, 40]) | u32,
                 "data_size": st.sampled_from([0, 2**32 - 1, 2**31]) | u32, "riff_size": u32,
                 "wave": st.binary(min_size=4, max_size=4), "payload": st.binary(max_size=4000)}
    for name in draw(st.lists(st.sampled_from(sorted(generated)), max_size=4, unique=True)):
        fields[name] = draw(generated[name])
    fmt = struct.pack("<HHIIHH", fields["tag"], fields["channels"], fields["rate"], fields["byte_rate"],
                      fields["align"], fields["bits"])
    chunks = b"fmt " + struct.pack("<I", fields["fmt_size"]) + fmt
    if draw(st.booleans()):
        extra = draw(st.binary(max_size=40))
        chunks = draw(st.sampled_from([b"LIST", b"fact", b"junk"])) + struct.pack("<I", len(extra)) + extra + chunks
    chunks += b"data" + struct.pack("<I", fields["data_size"]) + fields["payload"]
    size = len(chunks) + 4 if fields["riff_size"] is None else fields["riff_size"]
    riff = b"RIFF" + struct.pack("<I", size) + fields["wave"] + chunks
    return riff[: draw(st.integers(0, len(riff)))] if draw(st.integers(0, 9)) == 0 else riff


@PROPERTY
@given(data=wav_bytes())
def test_generated_wav_files(tmp_path, capfd, tiny_model_path, data):
    path = tmp_path / "generated.wav"
    path.write_bytes(data)
    run("wav", ["file", "--json", "--model", str(tiny_model_path), str(path)], capfd, {EXIT_OK, EXIT_INPUT},
        json_out=True)


# ---------------------------------------------------------------- profiles

@pytest.fixture(scope="module")
def real_profile(tmp_path_factory, tiny_model_path) -> dict:
    path = tmp_path_factory.mktemp("profile") / "me.json"
    assert main(["calibrate", "--model", str(tiny_model_path), "--file", str(SAMPLES / "demo.flac"),
                 "-o", str(path)]) == EXIT_OK
    return json.loads(path.read_text())


@PROPERTY
@given(data=st.data())
def test_generated_profiles(tmp_path, capfd, tiny_model_path, real_profile, data):
    capfd.readouterr()  # the calibration's own line
    path = tmp_path / "profile.json"
    path.write_text(data.draw(texts_of(mutations(real_profile))), errors="surrogatepass")
    run("profile", ["file", "--json", "--model", str(tiny_model_path), "--profile", str(path), str(CLIP)], capfd,
        {EXIT_OK, EXIT_USAGE}, json_out=True)


# ---------------------------------------------------------------- model metadata

@pytest.fixture(scope="module")
def model_proto(tiny_model_path):
    import onnx

    from livesense.model import METADATA_KEY

    model = onnx.load(str(tiny_model_path))
    [prop] = [p for p in model.metadata_props if p.key == METADATA_KEY]
    return model, json.loads(prop.value)


def with_metadata(model_proto, text: str, path: Path) -> Path:
    model, _ = model_proto
    model = copy.deepcopy(model)
    [prop] = [p for p in model.metadata_props if p.value]
    prop.value = text
    path.write_bytes(model.SerializeToString())
    return path


# Found by this property (exit 4 for each before model.py and features.py checked
# them, reproduced in bench/PROPERTIES.md): labels that are not text, a hop longer
# than the window, an n_fft of 2**63, nesting deeper than the JSON parser goes.
@PROPERTY
@given(data=st.data())
def test_generated_model_metadata(tmp_path, capfd, model_proto, data):
    path = with_metadata(model_proto, data.draw(texts_of(mutations(model_proto[1]))), tmp_path / "generated.onnx")
    run("model", ["file", "--json", "--model", str(path), str(CLIP)], capfd, {EXIT_OK, EXIT_USAGE}, json_out=True)


@pytest.mark.parametrize("change", ["labels", "hop", "n_fft", "nesting"])
def test_gaps_once_found_in_model_metadata_checks(tmp_path, capfd, model_proto, change):
    """Each gap the property found, on its own: a one-line model error (exit 2)."""
    metadata = copy.deepcopy(model_proto[1])
    if change == "labels":
        metadata["labels"][1] = []
    elif change == "hop":
        metadata["features"]["hop_s"] = 500.0
    elif change == "n_fft":
        metadata["features"]["n_fft"] = 2**63
    text = nested(5000) if change == "nesting" else json.dumps(metadata)
    path = with_metadata(model_proto, text, tmp_path / "gap.onnx")
    code = main(["file", "--json", "--model", str(path), str(CLIP)])
    err = capfd.readouterr().err
    assert code == EXIT_USAGE and len(err.splitlines()) == 1, err


# ---------------------------------------------------------------- log lines

@pytest.fixture(scope="module")
def log_records(tmp_path_factory, tiny_model_path) -> list[dict]:
    path = tmp_path_factory.mktemp("log") / "demo.jsonl"
    assert main(["demo", "--json", "--speed", "40", "--duration", "4", "--model", str(tiny_model_path),
                 "--log", str(path)]) == EXIT_OK
    return [json.loads(line) for line in path.read_text().splitlines()]


@PROPERTY
@given(data=st.data())
def test_generated_log_lines(tmp_path, capfd, log_records, data):
    capfd.readouterr()  # the demo's own output
    lines = [data.draw(texts_of(mutations(record)))
             for record in data.draw(st.lists(st.sampled_from(log_records), min_size=1, max_size=12))]
    path = tmp_path / "generated.jsonl"
    path.write_text("\n".join(lines) + data.draw(st.sampled_from(["\n", ""])), errors="surrogatepass")
    period = data.draw(st.sampled_from(["60", "0.5", "1e-2", "31622400"]))
    run("log", ["report", str(path), "--period", period, "--png", str(tmp_path / "t.png")], capfd,
        {EXIT_OK, EXIT_INPUT})
