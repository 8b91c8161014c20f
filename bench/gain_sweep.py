"""Speech detection and the cold readout against input level, on real speech.

    python bench/gain_sweep.py [--model ensemble] [--output bench/GAIN-SWEEP.md]

1. Speech windows the front end finds in CREMA-D clips (every 12th of the shared
   subset) moved to an active speech level of -60 … -10 dBFS, relative to -30 dBFS.
2. Share of windows called speech in 10 s of white noise, pink noise, mains hum
   and a square wave, at -50 … -3 dBFS RMS.
3. The cold readout (each clip alone through a fresh engine, as `livesense file clip`
   runs it, scored by its file verdict: training.streamed's cold mode) of CREMA-D
   clips (every 6th), scaled by -30 … +6 dB: UA, clips with no speech window, and
   the largest share of clips given one label ("silence" included). The shipped models were trained on
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
from livesense.frontend import recording_windows  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402
from training.corpora import SIX_CLASSES, load_cremad  # noqa: E402
from training.streamed import HeldOut, cold_labels, label_scores  # noqa: E402


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
    cold = HeldOut(clips[::6], [read_audio(c.path) for c in clips[::6]])
    lines += [f"## Cold readout by gain ({len(cold.clips)} CREMA-D clips, each alone)", "",
              "| gain (dB) | UA | clips without speech | largest share of one label |", "|---|---|---|---|"]
    for gain in (-30, -20, -10, 0, 6):
        verdicts = cold_labels(model, cold.transformed(gain))
        scored = label_scores(cold.clips, verdicts, labels)
        lines.append(f"| {gain:+d} | {scored['ua']:.1%} | {scored['no_speech_share']:.1%} | "
                     f"{scored['largest_share']['share']:.0%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
