"""Speech detection and the cold readout against input level, on real speech.

    python bench/gain_sweep.py [--model ensemble] [--output bench/GAIN-SWEEP.md]

1. Speech windows the front end finds in CREMA-D clips (every 12th of the shared
   subset) moved to an active speech level of -60 … -10 dBFS, relative to -30 dBFS.
2. Share of windows called speech in 10 s of white noise, pink noise, mains hum
   and a square wave, at -50 … -3 dBFS RMS.
3. The cold readout (each clip alone through a fresh engine, as `livesense file clip`
   runs it, verdict = mean raw probability over its speech windows) of CREMA-D
   clips (every 6th), scaled by -30 … +6 dB: UA, clips with no speech window, and
   the largest share of clips given one label. The shipped models were trained on
   CREMA-D: this measures the effect of level, not accuracy on new voices.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.levels import at_level, noises  # noqa: E402
from bench.speech import DATASETS  # noqa: E402
from livesense.audio import read_audio  # noqa: E402
from livesense.engine import StreamEngine  # noqa: E402
from livesense.frontend import recording_windows  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402
from livesense.summary import SessionSummary  # noqa: E402
from training.corpora import SIX_CLASSES, load_cremad  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ensemble")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    model = EmotionModel(args.model)
    config = model.features
    clips, _ = load_cremad(DATASETS / "cremad")
    clips = sorted((c for c in clips if c.emotion in SIX_CLASSES), key=lambda c: c.path)
    lines = [f"# Level sweep ({args.model}), `python bench/gain_sweep.py`", ""]

    quiet = [read_audio(c.path) for c in clips[::12]]
    found = {level: sum(sum(w.is_speech for w in recording_windows(at_level(a, level), config)) for a in quiet)
             for level in (-60, -50, -40, -30, -20, -10)}
    lines += [f"## Speech windows by active speech level ({len(quiet)} CREMA-D clips)", "",
              "| level (dBFS) | " + " | ".join(map(str, found)) + " |", "|---" * (len(found) + 1) + "|",
              "| windows, relative to -30 dBFS | " + " | ".join(f"{n / found[-30]:.0%}" for n in found.values()) + " |", ""]

    levels = (-50, -30, -10, -3)
    lines += ["## Noise windows called speech", "", "| noise | " + " | ".join(f"{l} dBFS" for l in levels) + " |",
              "|---" * (len(levels) + 1) + "|"]
    for name, noise in noises().items():
        shares = [np.mean([w.is_speech for w in recording_windows(
            np.clip(noise * 10 ** (l / 20), -1, 1).astype(np.float32), config)]) for l in levels]
        lines.append(f"| {name} | " + " | ".join(f"{s:.0%}" for s in shares) + " |")
    lines.append("")

    labels = list(model.labels)
    cold = clips[::6]
    audio = [read_audio(c.path) for c in cold]
    truth = np.array([labels.index(c.emotion) for c in cold])
    lines += [f"## Cold readout by gain ({len(cold)} CREMA-D clips, each alone)", "",
              "| gain (dB) | UA | clips without speech | largest share of one label |", "|---|---|---|---|"]
    for gain in (-30, -20, -10, 0, 6):
        verdicts = []
        for clip in audio:
            engine, summary = StreamEngine(model, batch=8), SessionSummary()
            for r in engine.feed(np.clip(clip * 10 ** (gain / 20), -1, 1)) + engine.finish():
                summary.add(r.start_s, r.end_s, r.label, r.raw_probabilities)
            label = summary.verdict().label
            verdicts.append(labels.index(label) if label in labels else -1)
        verdicts = np.array(verdicts)
        ua = np.mean([np.mean(verdicts[truth == k] == k) for k in range(len(labels)) if np.any(truth == k)])
        top = max(np.mean(verdicts == k) for k in range(len(labels)))
        lines.append(f"| {gain:+d} | {ua:.1%} | {np.mean(verdicts == -1):.1%} | {top:.0%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
