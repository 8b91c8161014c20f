"""``python -m training``: train and export shipped models, run evaluation protocols.

Examples:
    python -m training train --arch cnn --corpora tess,ravdess,cremad --data ../shared/datasets
    python -m training evaluate cross-corpus --arch bilstm --data ../shared/datasets
    python -m training rescore cross-corpus --arch ensemble --level-prior-frames 0
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _parser() -> argparse.ArgumentParser:
    from .models import BUILDERS
    from .protocols import PROTOCOLS

    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    data = argparse.ArgumentParser(add_help=False)  # what every command that reads the corpora takes
    data.add_argument("--data", type=Path, default=Path("../shared/datasets"),
                      help="directory holding tess/, ravdess/, cremad/ (default: ../shared/datasets)")
    data.add_argument("--runs", type=Path, default=Path("runs"), help="cache and report directory")
    data.add_argument("--clips-per-speaker", type=int, help="keep N clips per speaker and emotion (smoke runs)")
    data.add_argument("--speakers-per-corpus", type=int, help="keep N speakers per corpus (smoke runs)")
    common = argparse.ArgumentParser(add_help=False, parents=[data])
    common.add_argument("--arch", choices=sorted(BUILDERS), default="cnn",
                        help="model to train (logreg: the baseline every shipped model must beat)")
    common.add_argument("--epochs", type=int, help="maximum epochs (default: the design's published value)")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--no-augment", action="store_true",
                        help="train on original clips only, without speed/gain/noise copies (a third of the time)")
    # Recording-robustness experiments (models/reports/recipe-experiments.md, session 10): off by default.
    common.add_argument("--copies", choices=("gain-noise", "channels"), default="gain-noise",
                        help="augmented copies: fixed gains and white noise (default, the shipped models'), or random "
                             "microphones, rooms, codecs, pink noise and gains within +-25 dB")
    common.add_argument("--cold-copies", action="store_true",
                        help="normalise the third copy of each clip as a fresh stream of that clip alone is")
    common.add_argument("--copy-stats", action="store_true",
                        help="normalise each augmented copy by its speaker's statistics through that copy, not the original's")
    common.add_argument("--level-prior-frames", type=int,
                        help="prior weight (frames) of the level term c0 in running statistics (0: the stream's own level)")
    common.add_argument("--voice-head", action="store_true",
                        help="mix in emotion read from each window's GE2E voice features (livesense.voice)")
    common.add_argument("--relative-level", action="store_true",
                        help="features with mel energies relative to each window's loudest band (gain-invariant c0)")
    common.add_argument("--reference", choices=("all", "neutral"), default="all",
                        help="normalise training speakers by all their speech (default) or their neutral clips")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", parents=[common], help="train on corpora and export an ONNX model")
    train.add_argument("--corpora", default="tess,ravdess,cremad", help="comma-separated corpora (default: all three)")
    train.add_argument("--out", type=Path, help="ONNX path (default: models/<arch>.onnx)")
    evaluate = sub.add_parser("evaluate", parents=[common], help="run an evaluation protocol, write a JSON report")
    evaluate.add_argument("protocol", choices=sorted(PROTOCOLS))
    rescore = sub.add_parser("rescore", parents=[data], help="score the fold models an 'evaluate' run kept through "
                             "the runtime again, with another prior weight of the level term or a voice head")
    rescore.add_argument("protocol", choices=sorted(p for p, v in PROTOCOLS.items() if v.runtime))
    rescore.add_argument("--arch", choices=sorted(BUILDERS), default="ensemble")
    rescore.add_argument("--seed", type=int, default=0)
    rescore.add_argument("--level-prior-frames", type=int, required=True,
                         help="prior weight (frames) of the level term c0 in running statistics (0: the stream's own level)")
    rescore.add_argument("--voice-head", action="store_true",
                         help="fit a voice head on each fold's training corpora and mix it into every fold model")
    rescore.add_argument("--models", help="comma-separated fold models to score, e.g. ensemble (default: every one kept)")
    rescore.add_argument("--modes", default="cold,session", help="comma-separated runtime modes (default: cold,session)")
    rescore.add_argument("--update-reports", action="store_true",
                         help="also replace the runtime results in the evaluation's reports (needs --modes with every mode)")
    export = sub.add_parser("export", help="re-export a trained Keras model (models/<arch>.keras) to ONNX")
    export.add_argument("keras", type=Path, help="model saved by 'train' (its .train.json must be beside it)")
    export.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    export.add_argument("--check-audio", type=Path, nargs="+", default=sorted(Path("samples").glob("*.flac")),
                        help="audio whose windows ONNX and Keras must agree on (default: samples/*.flac)")
    sub.add_parser("baseline", parents=[data], help="cross-corpus reference: logistic regression on per-clip "
                   "statistics, and on the runtime's windows")
    card = sub.add_parser("card", help="write models/<arch>.md from the evaluation reports")
    card.add_argument("--arch", choices=sorted(BUILDERS), default="cnn")
    card.add_argument("--runs", type=Path, default=Path("runs"))
    card.add_argument("--models", type=Path, default=Path("models"))
    return parser


def _fit_options(args):
    from .fit import FitOptions

    return FitOptions(epochs=args.epochs, seed=args.seed, augment_copies=not args.no_augment, reference=args.reference,
                      copies=args.copies, cold_copies=(2,) if args.cold_copies else (),
                      copy_stats=args.copy_stats, level_prior_frames=args.level_prior_frames,
                      voice_head=args.voice_head)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from livesense.features import FeatureConfig

    from .corpora import CorpusError

    if args.command == "export":
        from .export import ExportError, export_saved

        try:
            difference = export_saved(args.keras, args.out, args.check_audio)
        except ExportError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"exported {args.out}, ONNX/Keras max abs diff {difference:.1e}")
        return 0
    if args.command == "card":
        from .card import write_card

        print(write_card(args.arch, args.runs / "reports", args.models))
        return 0
    command = "python -m training " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    features = FeatureConfig(relative_level=getattr(args, "relative_level", False))
    try:
        if args.command == "baseline":
            from .clip_baseline import run_clip_baseline

            # The new-voices issue's reference: MFCC statistics, without pitch.
            report = run_clip_baseline(args.data, args.runs / "reports", FeatureConfig(pitch=False), args.clips_per_speaker,
                                       args.speakers_per_corpus, command)
            for variant, summary in report["summary"].items():
                print(f"cross-corpus clip-logreg ({variant}): mean UA {summary['fold_mean_ua']:.1%} "
                      + ", ".join(f"{k} {v:.1%}" for k, v in summary["fold_ua"].items()))
        elif args.command == "rescore":
            from .evaluate import rescore
            from .streamed import MODES

            if args.update_reports and set(args.modes.split(",")) != set(MODES):
                print(f"error: --update-reports needs every mode: --modes {','.join(MODES)}", file=sys.stderr)
                return 2

            report = rescore(args.protocol, args.arch, args.data, args.runs / "reports", args.seed,
                             args.level_prior_frames, tuple(args.modes.split(",")), args.clips_per_speaker,
                             args.speakers_per_corpus, command, args.update_reports, args.voice_head,
                             tuple(args.models.split(",")) if args.models else None)
            for model_name, summary in report["runtime"].items():
                for mode, entry in summary["by_mode"].items():
                    by_gain = [v for v in entry["gain_fold_mean_ua"].values() if v is not None]
                    if entry["fold_mean_ua"] is None or not by_gain:  # e.g. every calibration refused
                        print(f"{model_name} {mode}: no clip scored")
                        continue
                    print(f"{model_name} {mode}: UA {entry['fold_mean_ua']:.1%}, gain spread "
                          f"{entry['gain_spread_points']:.1f} points, mean over gains {sum(by_gain) / len(by_gain):.1%}")
        elif args.command == "evaluate":
            from .evaluate import run_protocol

            report = run_protocol(args.protocol, args.arch, args.data, args.runs / "reports", features,
                                  _fit_options(args), args.clips_per_speaker, args.speakers_per_corpus, command)
            for condition, summary in report["summary"].items():
                print(f"{args.protocol} {args.arch} {condition}: accuracy {summary['pooled']['accuracy']:.1%} "
                      f"UA {summary['pooled']['ua']:.1%} (fold mean UA {summary['fold_mean_ua']:.1%})")
        else:
            from .train import train_and_export

            out = args.out or Path("models") / f"{args.arch}.onnx"
            train_and_export(args.arch, args.data, args.corpora.split(","), out, features,
                             _fit_options(args), args.runs, args.clips_per_speaker, args.speakers_per_corpus, command)
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
