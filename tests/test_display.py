"""The live display rendered headless on a recorded rich console."""
from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from livesense.audio import read_audio
from livesense.display import LiveDisplay
from livesense.engine import StreamEngine
from livesense.summary import SessionSummary

from .runtime_support import SAMPLES


def render(display: LiveDisplay, width: int = 100) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), color_system="truecolor")
    console.print(display)
    return console.export_text()


def test_display_shows_all_its_parts(tiny_model):
    clip = read_audio(SAMPLES / "1058_IWL_ANG_XX.flac")
    audio = np.concatenate([np.zeros(48000, np.float32), clip, np.zeros(48000, np.float32)])
    summary = SessionSummary()
    display = LiveDisplay(tiny_model.labels, summary, tiny_model.features.hop_s, source="test mic")
    assert "waiting for audio" in render(display)

    engine = StreamEngine(tiny_model)
    results = engine.feed(audio)
    speech_seen = None
    for result in results:
        summary.add(result.start_s, result.end_s, result.label, result.raw_probabilities)
        display.update(result, latency_s=0.012)
        if result.is_speech:
            speech_seen = result
            text = render(display)
            # Current emotion and confidence while speech is heard.
            assert "● speech" in text and f"{result.label.upper()}  {result.confidence:.0%}" in text
    display.set_level(-20.0)
    display.overflows = 3
    display.status = "input device 'pulse' lost; retrying in 2 s (attempt 1)"
    text = render(display)

    assert "livesense — test mic" in text
    assert "○ silence" in text and f"last: {speech_seen.label}" in text  # ended in silence
    for label in tiny_model.labels:  # a bar per class
        assert f"{label:>9} " in text
    assert "level" in text and "-20.0 dBFS" in text
    timeline = text.split("· = silence)")[1].splitlines()[1].strip(" │")
    assert len(timeline) == len(results)
    assert timeline[0] == "·" and timeline[-1] == "·" and any(c.isalpha() for c in timeline)
    assert "time per emotion" in text and f"{speech_seen.label}" in text and "silence" in text
    assert "overflows 3" in text and "latency 12 ms" in text
    assert "lost; retrying" in text


def test_timeline_is_bounded_and_fits_the_width(tiny_model):
    summary = SessionSummary()
    display = LiveDisplay(tiny_model.labels, summary, 0.5, timeline_windows=50)
    engine = StreamEngine(tiny_model)
    for result in engine.feed(np.zeros(16000 * 40, np.float32)):
        display.update(result)
    assert len(display.timeline) == 50
    text = render(display, width=40)
    assert max(len(line) for line in text.splitlines()) <= 40
