"""Training a shipped model on chosen corpora and exporting it with its metadata."""
from __future__ import annotations

import json
from pathlib import Path

from livesense.features import FeatureConfig
from livesense.model import ModelInfo
from livesense.voice import VoiceHead

from .corpora import LICENSES, SIX_CLASSES
from .data import TrainingData, validation_split
from .dataset import WINDOWS_VERSION
from .export import export_onnx
from .fit import FitOptions, fit, window_arrays
from .metrics import plot_curves
from .voice import fit_voice_head


def model_info(name: str, labels: list[str], config: FeatureConfig, data: TrainingData, speakers: set[str],
               options: FitOptions, corpora: dict[str, str], extra: dict,
               voice_head: VoiceHead | None = None) -> ModelInfo:
    """The metadata of a model trained on ``speakers`` of ``data``: its global
    statistics (their pooled speech) and, for ``reference`` "all", the profile
    adjustment (their average neutral-to-all shift)."""
    return ModelInfo(
        name=name, labels=labels, features=config, normalization="speaker",
        global_stats=data.pooled_all_speech(speakers), reference=options.reference,
        profile_adjustment=data.profile_adjustment(speakers) if options.reference == "all" else None,
        level_prior_frames=options.level_prior_frames, voice_head=voice_head, corpora=corpora, extra=extra)


def train_and_export(arch: str, data_dir: Path, corpora: list[str], out: Path, config: FeatureConfig,
                     options: FitOptions, runs: Path, clips_per_speaker: int | None = None, speakers_per_corpus: int | None = None,
                     command: str = "") -> dict:
    """Train ``arch`` on ``corpora`` (6 classes), export to ``out``; returns the training record.

    Also writes ``<out>.train.json`` (history, data) and a curves PNG beside the model.
    """
    labels = list(SIX_CLASSES)
    data = TrainingData.load(data_dir, corpora, SIX_CLASSES, config, runs / "cache", clips_per_speaker,
                             speakers_per_corpus, options.copies)
    train, val = validation_split(data.clips, options.seed)
    reference = data.reference(options.reference)
    speakers = {c.speaker for c in data.clips}
    result = fit(arch, data.windows_of(train), data.windows_of(val), reference, labels, options, config,
                 data.pooled_all_speech(speakers))
    info = model_info(arch, labels, config, data, speakers, options,
                      {name: LICENSES[name] for name in corpora},
                      {"command": command, "seed": options.seed, "train_clips": len(train), "val_clips": len(val),
                       "best_epoch": result.best_epoch},
                      fit_voice_head(data.clips, labels, config, runs / "cache", options.seed)
                      if options.voice_head else None)
    check, _, _ = window_arrays(data.windows_of(val), reference, labels)
    difference = export_onnx(result.model, info, out, check[:256])
    record = {"model": str(out), "corpora": [str(s) for s in data.summaries], "command": command,
              "windows_version": WINDOWS_VERSION,
              "info": json.loads(info.to_json()),
              "parity_max_abs_diff": difference, "best_epoch": result.best_epoch, "history": result.history}
    out.with_suffix(".train.json").write_text(json.dumps(record, indent=1))
    result.model.save(out.with_suffix(".keras"))  # for the Keras-vs-ONNX benchmark
    plot_curves([result.history], f"{arch} trained on {', '.join(corpora)}", out.with_suffix(".curves.png"))
    print(f"exported {out} ({out.stat().st_size / 1e6:.2f} MB), ONNX/Keras max abs diff {difference:.1e}, "
          f"best epoch {result.best_epoch}")
    return record
