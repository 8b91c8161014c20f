"""Fit a trained model's voice head again, on the corpora it was trained on, without training the model again.

    PYTHONPATH=. .venv/bin/python scripts/fit_voice_head.py models/ensemble.train.json --data ../shared/datasets
    .venv/bin/python -m training export models/ensemble.keras --out models/ensemble.onnx

The head (``livesense/voice.py``) reads the voice encoder's output, not the model's, so
when the head changes, the shipped model keeps its weights: this writes the head that
``python -m training train ... --voice-head`` would fit (the same clips, the model's
seed) into the training record, and ``export`` puts it into the ONNX file's metadata.
"""
import argparse
import json
from pathlib import Path

from livesense.features import FeatureConfig
from training.corpora import SIX_CLASSES
from training.data import load_clips
from training.voice import fit_voice_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", type=Path, help="the model's .train.json, written by 'train'")
    parser.add_argument("--data", type=Path, required=True, help="the corpora's directory")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where the voice-feature cache lives")
    args = parser.parse_args()
    record = json.loads(args.record.read_text())
    info = record["info"]
    clips, _ = load_clips(args.data, list(info["corpora"]), SIX_CLASSES)
    config = FeatureConfig.from_dict(info["features"])
    head = fit_voice_head(clips, info["labels"], config, args.runs / "cache", info["extra"]["seed"])
    info["voice_head"] = head.to_dict()
    record["voice_head_command"] = (
        f"`PYTHONPATH=. python scripts/fit_voice_head.py {args.record}` fitted it on the {len(clips)} clips the model "
        f"was trained on (seed {info['extra']['seed']}), as `train --voice-head` does, and it was added to this "
        "model's metadata, the weights unchanged: the head does not depend on them")
    args.record.write_text(json.dumps(record, indent=1))
    print(f"fitted a voice head on {len(clips)} clips into {args.record}; now export the model again")


if __name__ == "__main__":
    main()
