"""Training a shipped model on chosen corpora and exporting it with its metadata."""
from __future__ import annotations

import json
from pathlib import Path

from livesense.features import FeatureConfig
from livesense.model import ModelInfo
from livesense.normalization import ProfileAdjustment

from .corpora import LICENSES, SIX_CLASSES, load_corpora, subsample
from .dataset import WINDOWS_VERSION, build_windows, speaker_stats
from .evaluate import pooled_stats, validation_split
from .export import export_onnx
from .fit import FitOptions, fit, window_arrays
from .metrics import plot_curves
from .protocols import usable


def train_and_export(arch: str, data_dir: Path, corpora: list[str], out: Path, config: FeatureConfig,
                     options: FitOptions, runs: Path, clips_per_speaker: int | None = None, speakers_per_corpus: int | None = None,
                     command: str = "") -> dict:
    """Train ``arch`` on ``corpora`` (6 classes), export to ``out``; returns the training record.

    Also writes ``<out>.train.json`` (history, data) and a curves PNG beside the model.
    """
    labels = list(SIX_CLASSES)
    clips, summaries = load_corpora(data_dir, corpora)
    clips = usable(clips, SIX_CLASSES)
    if clips_per_speaker:
        clips = subsample(clips, clips_per_speaker, speakers_per_corpus)
    cache = runs / "cache"
    windows = {w.clip.path: w for w in build_windows(clips, config, cache)}
    neutral = speaker_stats(clips, config, cache, ("neutral",))
    session = speaker_stats(clips, config, cache, None)
    train, val = validation_split(clips, options.seed)
    reference = session if options.reference == "all" else neutral
    result = fit(arch, [windows[c.path] for c in train], [windows[c.path] for c in val], reference, labels, options, config)
    speakers = sorted({c.speaker for c in clips})
    info = ModelInfo(
        name=arch, labels=labels, features=config, normalization="speaker",
        global_stats=pooled_stats(session, set(speakers)),
        reference=options.reference,
        profile_adjustment=(ProfileAdjustment.between([neutral[s] for s in speakers], [session[s] for s in speakers])
                            if options.reference == "all" else None),
        corpora={name: LICENSES[name] for name in corpora},
        extra={"command": command, "seed": options.seed, "train_clips": len(train), "val_clips": len(val),
               "best_epoch": result.best_epoch},
    )
    check, _, _ = window_arrays([windows[c.path] for c in val], reference, labels)
    difference = export_onnx(result.model, info, out, check[:256])
    record = {"model": str(out), "corpora": [str(s) for s in summaries], "command": command,
              "windows_version": WINDOWS_VERSION,
              "info": json.loads(info.to_json()),
              "parity_max_abs_diff": difference, "best_epoch": result.best_epoch, "history": result.history}
    out.with_suffix(".train.json").write_text(json.dumps(record, indent=1))
    result.model.save(out.with_suffix(".keras"))  # for the Keras-vs-ONNX benchmark
    plot_curves([result.history], f"{arch} trained on {', '.join(corpora)}", out.with_suffix(".curves.png"))
    print(f"exported {out} ({out.stat().st_size / 1e6:.2f} MB), ONNX/Keras max abs diff {difference:.1e}, "
          f"best epoch {result.best_epoch}")
    return record
