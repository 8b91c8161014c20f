"""One verdict rule everywhere: the class of highest mean raw probability (a tie:
more time), and tables of time per emotion whose first row is it."""
from __future__ import annotations

import json
import re

import numpy as np

from livesense.cli import EXIT_OK, main
from livesense.summary import SessionSummary

from .runtime_support import SAMPLES


def test_the_verdict_is_the_highest_mean_probability_not_the_most_time():
    summary = SessionSummary()
    # Angry for 4 windows at a modest probability, sad for 1 at a very high one:
    # sad has the higher mean raw probability over the five, angry the time.
    for i in range(4):
        summary.add(i * 0.5, i * 0.5 + 2, "angry", {"angry": 0.4, "sad": 0.45, "happy": 0.15})
    summary.add(2.0, 4.0, "sad", {"angry": 0.0, "sad": 1.0, "happy": 0.0})
    verdict = summary.verdict()
    assert list(summary.emotion_seconds()) == ["sad", "angry"]
    assert (verdict.label, verdict.seconds, verdict.speech_s) == ("sad", 0.5, 4.0)
    assert verdict.confidence == (4 * 0.45 + 1.0) / 5 and verdict.share == 0.5 / 4.0


def test_the_verdict_leads_the_table_even_when_it_was_never_the_smoothed_label():
    summary = SessionSummary()
    for i in range(3):
        summary.add(i * 0.5, i * 0.5 + 2, "angry", {"angry": 0.3, "sad": 0.7})
    assert list(summary.emotion_seconds()) == ["sad", "angry"]
    assert summary.emotion_seconds()["sad"] == 0.0 and summary.verdict().label == "sad"


def test_a_tie_in_probability_goes_to_more_time_and_the_table_agrees():
    summary = SessionSummary()
    summary.add(0.0, 2.0, "happy", {"happy": 0.5, "sad": 0.5})
    summary.add(4.0, 8.0, "sad", {"happy": 0.5, "sad": 0.5})  # after a gap: a new run of 4.0 s
    summary.add(10.0, 12.0, "silence")
    assert list(summary.emotion_seconds()) == ["sad", "happy"]
    assert summary.verdict().label == "sad"


def test_silence_only_is_a_silence_verdict():
    summary = SessionSummary()
    summary.add(0.0, 2.0, "silence")
    verdict = summary.verdict()
    assert (verdict.label, verdict.confidence, verdict.speech_s, verdict.duration_s) == ("silence", None, 0.0, 2.0)


def test_combined_sessions_add_their_times_and_never_join_their_stretches():
    first, second = SessionSummary(), SessionSummary()
    first.add(0.0, 2.0, "happy", {"happy": 1.0})
    second.add(0.0, 2.0, "happy", {"happy": 0.5})
    total = SessionSummary.combined([first, second])
    assert total.seconds["happy"] == 4.0 and total.longest_stretches()["happy"] == 2.0
    assert total.windows == 2 and total.verdict().confidence == 0.75


def _first_row(text: str, title: str) -> str:
    lines = text[text.index(title):].splitlines()
    below_header = next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1
    return lines[below_header].strip("│").split("│")[0].strip()


def test_file_demo_summary_and_report_state_the_rule_and_their_tables_lead_with_the_verdict(
        tmp_path, capsys, tiny_model_path):
    log = tmp_path / "demo.jsonl"
    assert main(["demo", "--json", "--speed", "40", "--model", str(tiny_model_path), "--log", str(log)]) == EXIT_OK
    out, err = capsys.readouterr()
    overall = re.search(r"overall: (\S+) \(highest mean probability\)", err).group(1)
    assert _first_row(err, "session summary") == overall
    windows = [json.loads(line) for line in out.splitlines()]
    speech = [w["raw_probabilities"] for w in windows if w["speech"]]
    mean = {k: np.mean([p[k] for p in speech]) for k in speech[0]}
    assert overall == max(mean, key=mean.get)
    end = json.loads(log.read_text().splitlines()[-1])
    assert end["type"] == "end" and end["verdict"] == overall

    assert main(["report", str(log), "--png", str(tmp_path / "t.png")]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"overall: {overall} (highest mean probability)" in out and _first_row(out, "time per emotion") == overall

    assert main(["file", "--model", str(tiny_model_path), str(SAMPLES / "demo.flac")]) == EXIT_OK
    out = capsys.readouterr().out
    verdict = re.search(r"verdict: (\S+) \(highest mean probability: (\d+)%", out)
    assert verdict.group(1) == overall and int(verdict.group(2)) == round(100 * mean[overall])
    assert main(["file", "--json", "--model", str(tiny_model_path), str(SAMPLES / "demo.flac")]) == EXIT_OK
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert record["type"] == "verdict" and record["label"] == overall
