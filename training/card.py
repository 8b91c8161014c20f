"""Model cards: ``models/<arch>.md`` written from the evaluation reports, never by hand,
so that every figure in a card is the one a command produced."""
from __future__ import annotations

import json
import re
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from livesense.features import FeatureConfig
from livesense.model import EmotionModel, ModelInfo
from livesense.normalization import PRIOR_FRAMES
from livesense.voice import ENCODER_LEVEL_DBFS, ENCODER_PATH

from .dataset import WINDOWS_CHANGES, WINDOWS_VERSION
from .protocols import report_stem


# The calibrated mode the runtime uses (livesense.engine: profile_adapts), whose
# figures the targets take.
RUNTIME_CALIBRATION = "calibrated_adaptive"
ORDER = ("cross-corpus", "cremad-actors", "tess-cross-speaker", "ravdess-actors", "tess-random", "cross-corpus-no-cremad")
TARGETS = {  # protocol: (metric, condition, target) from the issues
    "cross-corpus": [("mean UA over held-out corpora", "calibrated", 0.60), ("mean UA over held-out corpora", "no_profile", 0.50)],
    "cremad-actors": [("UA", "no_profile", 0.65)],
    "tess-cross-speaker": [("mean accuracy", "no_profile", 0.85)],
    "ravdess-actors": [("UA, 8 classes", "no_profile", 0.70)],
    "tess-random": [("accuracy", "no_profile", 0.995)],
}


def _command(command: str) -> str:
    """The command as a user types it, in Markdown code: machine-specific paths (--data,
    --runs, --out) left out; an ensemble member's note after it, as text."""
    command, _, note = command.partition(" (")
    typed = re.sub(r" --(data|runs|out) \S+", "", command)
    return f"`{typed}`" + (f" ({note}" if note else "")


def _pct(v: float | None) -> str:
    """A share as a percentage; "—" where nothing was measured (no clip scored)."""
    return "—" if v is None else f"{100 * v:.1f}%"


def _headline(report: dict, condition: str) -> float:
    """The protocol's main figure: mean over folds (UA; accuracy for the TESS protocols)."""
    summary = report["summary"][condition]
    if report["protocol"].startswith("tess"):
        return summary["fold_mean_accuracy"]
    return summary["fold_mean_ua"]


def _row(report: dict) -> str:
    cells = []
    for condition in ("no_profile", "calibrated", "global"):
        s = report["summary"][condition]
        cells.append(f"{_pct(s['pooled']['accuracy'])} / {_pct(s['fold_mean_ua'])}")
    return " | ".join(cells)


def _points(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} points"


def _stale_windows(train: dict, found: dict) -> list[str]:
    """A limitation line when the model or a report predates the current way of cutting windows."""
    versions = {name: report.get("windows_version", 1) for name, report in found.items()}
    versions["the model itself"] = train.get("windows_version", 1)
    stale = sorted((name for name, version in versions.items() if version < WINDOWS_VERSION),
                   key=lambda name: name != "the model itself")
    if not stale:
        return []
    oldest = min(versions.values())
    changes = "; and ".join(WINDOWS_CHANGES[v] for v in range(oldest + 1, WINDOWS_VERSION + 1))
    return [f"- Made before a training fix ({', '.join(stale)}): {changes}. Retraining with the current code "
            "changes these figures."]


def _seed_repeats(reports: Path, arch: str) -> list[Path]:
    """The cross-corpus reports of ``arch`` with seeds other than 0."""
    return sorted(reports.glob(f"{report_stem('cross-corpus', arch, '*')}.json"))


def _seed_spread(reference: dict, reports: Path, arch: str) -> list[str]:
    """A line on how far the cross-corpus headline moves with the seed, from the
    repeats beside the reference run (none: no line)."""
    repeats = [json.loads(p.read_text()) for p in _seed_repeats(reports, arch)]
    if not repeats:
        return []
    runs = [reference, *repeats]
    seeds = ", ".join(str(r["fit_options"]["seed"]) for r in runs)
    spread = []
    for condition, said in (("no_profile", "without a profile"), ("calibrated", "calibrated")):
        values = [_headline(r, condition) for r in runs]
        spread.append(f"{_pct(statistics.mean(values))} ± {100 * statistics.stdev(values):.1f} {said} "
                      f"({', '.join(_pct(v) for v in values)})")
    return [f"Over seeds {seeds} (`--seed N`; the figures below are seed {reference['fit_options']['seed']}'s), mean ± "
            f"standard deviation: {'; '.join(spread)}.", ""]


@dataclass
class _Sources:
    """What one model's card is rendered from."""

    arch: str
    info: ModelInfo
    train: dict  # the model's <arch>.train.json
    onnx: Path
    reports: Path  # where the evaluation reports and their figures are
    found: dict[str, dict]  # the model's report per protocol run, in ORDER

    @property
    def baseline(self) -> Path:
        """The logistic-regression baseline's cross-corpus report."""
        return self.reports / f"{report_stem('cross-corpus', 'logreg')}.json"

    @property
    def clip_baseline(self) -> Path:
        """The whole-clip baseline's report (``python -m training baseline``)."""
        return self.reports / "cross-corpus-clip-logreg.json"


def _headline_section(src: _Sources) -> list[str]:
    """The cross-corpus headline and its spread over seeds, or that it is not measured."""
    if "cross-corpus" not in src.found:
        return ["**Headline — not measured yet:** this model has no cross-corpus evaluation, so it is not "
                "known to beat the logistic-regression baseline; prefer `ensemble` (the default), whose figures are.", ""]
    cc = src.found["cross-corpus"]
    oracle = (f"{_pct(_headline(cc, 'no_profile'))} with each test speaker normalised by all their speech, "
              f"{_pct(_headline(cc, 'calibrated'))} by their neutral clips")
    if "runtime" not in cc:
        return [f"**Headline — cross-corpus mean UA (train on two corpora, test on the third, 6 classes):** "
                f"{oracle}.", "", *_seed_spread(cc, src.reports, src.arch)]
    modes = cc["runtime"]["by_mode"]
    calibrated = RUNTIME_CALIBRATION if RUNTIME_CALIBRATION in modes else "calibrated"  # older reports
    return [f"**Headline — cross-corpus mean UA through the runtime (train on two corpora, test on the third, "
            f"6 classes):** {_pct(modes['cold']['fold_mean_ua'])} for a clip alone (`livesense file clip`), "
            f"{_pct(modes['session']['fold_mean_ua'])} in a session of the speaker's clips (`livesense listen`), "
            f"{_pct(modes[calibrated]['fold_mean_ua'])} with a calibration profile (where one could be made; "
            f"mode `{calibrated}`). "
            f"For reference, on windows normalised outside the runtime: {oracle}.", "",
            *_seed_spread(cc, src.reports, src.arch)]


def _runtime_section(src: _Sources, figures: Path) -> list[str]:
    """The cross-corpus folds' models run by livesense itself, in the modes users meet,
    against gain and through the channel panel; the issue's targets for them."""
    cc = src.found.get("cross-corpus")
    if not cc or "runtime" not in cc:
        return []
    runtime = cc["runtime"]
    folds = [f["name"] for f in cc["folds"]]
    lines = ["## As users meet it: cross-corpus through the runtime", "",
             "Each fold's model is exported to ONNX and run by livesense's own engine (`training/streamed.py`):", "",
             *[f"- **{mode}**: {text}" for mode, text in runtime["modes"].items()],
             "", f"Gains ({', '.join(f'{g:+g}' for g in runtime['gains_db'])} dB, relative to the recording, peaks "
             f"clipped at full scale) and the channel panel ({', '.join(runtime['channels'])}) play a seeded subset of "
             f"about {runtime['sweep_clips_per_fold']} clips per held-out corpus; the clean columns use every clip. "
             "A clip's label is the file verdict of its windows; a clip with no speech window counts as wrong.", "",
             "| mode | mean UA | " + " | ".join(f.removeprefix("held-out-") for f in folds)
             + " | largest share of one label | UA spread over gains | channel-panel mean UA (drop) |",
             "|---|---|" + "---|" * len(folds) + "---|---|---|"]
    for mode, entry in runtime["by_mode"].items():
        shares = ", ".join(f"{s['share']:.0%} {s['label']}" for s in entry["largest_share"].values() if s)
        channel = (f"{_pct(entry['channel_mean_ua'])} ({entry['channel_drop_points']:+.1f} points)"
                   if "channel_mean_ua" in entry else "—")
        lines.append(f"| {mode} | {_pct(entry['fold_mean_ua'])} | "
                     + " | ".join(_pct(v) if v is not None else "—" for v in entry["fold_ua"].values())
                     + f" | {shares} | {_points(entry['gain_spread_points'])} | {channel} |")
    refused = {fold: info["refused"] for fold, info in runtime["calibration"].items() if info["refused"]}
    lines.append("")
    for mode in (m for m in runtime["modes"] if m.startswith("calibrated")):
        lines.append(f"{mode.capitalize().replace('_', ' ')} minus session UA on the same clips (points): "
                     + ", ".join(f"{f.removeprefix('held-out-')} {'—' if v is None else f'{v:+.1f}'}"
                                 for f, v in runtime[f"{mode}_minus_session_points"].items()) + ".")
    for fold, speakers in refused.items():
        reason = next(iter(speakers.values()))
        lines.append(f"Calibration refused for {len(speakers)} of {runtime['calibration'][fold]['speakers']} "
                     f"speakers of {fold.removeprefix('held-out-')} ({reason}).")
    if "note" in runtime:
        lines += ["", f"Note on this report: {runtime['note']}."]
    lines += ["", *_figure(src.reports / f"{report_stem('cross-corpus', src.arch)}-robustness.png",
                           "UA against gain and per channel", figures), ""]
    return lines


def _runtime_targets(src: _Sources) -> list[str]:
    """The recording-robustness issue's targets against the runtime figures."""
    cc = src.found.get("cross-corpus")
    if not cc or "runtime" not in cc:
        return []
    modes, runtime = cc["runtime"]["by_mode"], cc["runtime"]
    lines = []
    for mode, target in (("cold", 0.45), ("session", 0.52)):
        value = modes[mode]["fold_mean_ua"]
        lines.append(f"| cross-corpus | {mode}, mean UA | runtime | >= {_pct(target)} | {_pct(value)} | "
                     f"{'yes' if value >= target else '**no**'} |")
    calibrated = RUNTIME_CALIBRATION if RUNTIME_CALIBRATION in runtime["modes"] else "calibrated"  # older reports
    diffs = [v for v in runtime[f"{calibrated}_minus_session_points"].values() if v is not None]
    if diffs:
        lines.append(f"| cross-corpus | {calibrated} minus session, worst held-out corpus | runtime | >= 0 | "
                     f"{min(diffs):+.1f} points | {'yes' if min(diffs) >= 0 else '**no**'} |")
    for mode in ("cold", "session"):
        spread, drop = modes[mode]["gain_spread_points"], modes[mode]["channel_drop_points"]
        lines.append(f"| cross-corpus | UA spread over the gain sweep | {mode} | <= 3 points | {spread:.1f} points | "
                     f"{'yes' if spread <= 3 else '**no**'} |")
        lines.append(f"| cross-corpus | channel-shift drop from clean | {mode} | <= 5 points | {drop:.1f} points | "
                     f"{'yes' if drop <= 5 else '**no**'} |")
    worst = max(s["share"] for s in modes["cold"]["largest_share"].values() if s)
    lines.append(f"| cross-corpus | largest share of one label, worst held-out corpus | cold | <= 35% | {worst:.0%} | "
                 f"{'yes' if worst <= 0.35 else '**no**'} |")
    return lines


def _baseline_comparison(src: _Sources) -> list[str]:
    """For the baseline itself, what it is; for any other model, whether it beats it."""
    if src.arch == "logreg":
        return ["This model is the baseline every shipped model must beat: a logistic regression on the mean "
                "and standard deviation over time of the same normalised features, fitted by scikit-learn "
                "(L-BFGS to convergence, C = 0.1, each speaker–emotion pair weighted equally) on the original "
                "windows, its weights then set into a Keras graph for export.", ""]
    if "cross-corpus" not in src.found or not src.baseline.exists():
        return []
    lr = json.loads(src.baseline.read_text())
    cc = src.found["cross-corpus"]
    verdict = ("beats" if all(_headline(cc, c) > _headline(lr, c) for c in ("no_profile", "calibrated"))
               else "does **not** beat")
    same = lr["features"] == src.info.features.to_dict()
    return ["Against the baseline every shipped model must beat — logistic regression on the mean and "
            "standard deviation of the "
            + ("same normalised features" if same else "normalised features of the current recipe (this "
               "model's differ: see its metadata below)")
            + ", same protocol and pipeline "
            f"({_command(lr['command'])}): {_pct(_headline(lr, 'no_profile'))} without a profile, "
            f"{_pct(_headline(lr, 'calibrated'))} calibrated. This model {verdict} it.", ""]


def _clip_baseline_comparison(src: _Sources) -> list[str]:
    """Whether the model beats the whole-clip and windowed logistic regressions of the new-voices issue."""
    if "cross-corpus" not in src.found or not src.clip_baseline.exists():
        return []
    clip = json.loads(src.clip_baseline.read_text())["summary"]
    own = _headline(src.found["cross-corpus"], "no_profile")
    verdicts = {v: "beats" if own > clip[v]["fold_mean_ua"] else "does **not** beat" for v in ("clip", "windows")}
    return [f"The reference in the new-voices issue is a logistic regression on each *whole clip's* statistics "
            f"(`python -m training baseline`; speakers normalised by all their clips, one WebRTC VAD per clip): "
            f"{_pct(clip['clip']['fold_mean_ua'])} mean UA here; on the runtime's {src.info.features.window_s:g} s "
            f"windows instead, the same classifier scores {_pct(clip['windows']['fold_mean_ua'])}. Without a "
            f"profile this model ({_pct(own)}) {verdicts['clip']} the whole-clip figure and {verdicts['windows']} "
            f"the windowed one.", ""]


def _what_it_is(src: _Sources) -> list[str]:
    """File, input and output, training data and the command that reproduces the model."""
    arch, info, train = src.arch, src.info, src.train
    return [
        "## What it is",
        f"- File: `models/{arch}.onnx` ({src.onnx.stat().st_size / 1e6:.2f} MB), ONNX opset 17, exported with tf2onnx from Keras"
        + {"logreg": " (weights fitted by scikit-learn).",
           "ensemble": ": one graph averaging the probabilities of a `cnn` and a `logreg`, each trained its own "
                       "way on the same data (see their cards)."}.get(arch, "."),
        f"- Input: `features`, float32 (batch, {info.features.frames_per_window}, {info.features.n_features}): one "
        f"{info.features.window_s:g} s window of speaker-normalised MFCC + deltas"
        + (" + voicing strength and log F0 (pitch) of each frame" if info.features.pitch else "")
        + ". Output: probabilities of "
        f"{', '.join(info.labels)}.",
        f"- Trained on: {', '.join(f'{k} ({v})' for k, v in info.corpora.items())}; "
        f"{info.extra.get('train_clips')} clips for training and {info.extra.get('val_clips')} clips of held-out speakers "
        + ("for its validation figures (fitted in one step, no early stopping)." if arch == "logreg" else
           f"for early stopping (best epoch {info.extra.get('best_epoch')}).")
        + f" Corpora: {'; '.join(train['corpora'])}.",
        f"- Reproduce: {_command(train['command'])} (seeded, `--data` pointing at the corpora; ONNX/Keras max "
        f"abs difference at export "
        f"{train['parity_max_abs_diff']:.1e})."
        + (f" Voice head: {train['voice_head_command']}." if "voice_head_command" in train else ""),
        "",
    ]


def _features_section(info: ModelInfo) -> list[str]:
    """The feature parameters and how speakers are normalised in training and at run time."""
    return [
        "## Features and normalisation",
        "All parameters are stored in the model's ONNX metadata (key `livesense`) and read back by the runtime:",
        "",
        "| parameter | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.features.shaping_parameters().items()],
        "",
        "Speaker normalisation: each speaker's features are standardised by the mean and standard deviation of "
        + ("all their speech in training; at run time, by running statistics of the session's speech (starting "
           "from the training corpora's global statistics, stored in the metadata) or, with a calibration profile "
           "(`livesense calibrate`, 20–30 s of the user's neutral speech), by the profile shifted by the training "
           "speakers' average difference between neutral and all speech (also in the metadata)."
           if info.reference == "all" else
           "their neutral clips in training; at run time, by a calibration profile (`livesense calibrate`, 20–30 s "
           "of the user's neutral speech) or, without one, running statistics of the session's speech, starting "
           "from the training corpora's global statistics (stored in the metadata)."),
        "",
        "Level term (c0, the one a microphone's gain moves): " + (
            "without a profile, its running statistics come from the stream's own speech from the first window "
            "(`level_prior_frames` 0), so a gain does not move the readout; a clip is judged against its own level, "
            "not the corpora's." if info.level_prior_frames == 0 else
            f"its running statistics start from the corpora's level, counted as "
            f"{PRIOR_FRAMES if info.level_prior_frames is None else info.level_prior_frames} frames, so a "
            "microphone's gain moves the readout of the first seconds."),
        "",
        "Voice head: " + (
            f"each speech window's {info.features.window_s:g} s, set to {ENCODER_LEVEL_DBFS:g} dBFS, also go "
            "through resemblyzer's GE2E speaker encoder "
            "(`voice/ge2e.onnx`, Apache-2.0, see `voice/LICENSE`), which gives its speaker embedding and the mean and "
            "deviation of its top LSTM layer. These minus the stream's running mean (starting from the training "
            f"voices' mean, counted as {info.voice_head.prior_windows} windows) go to "
            f"{len(info.voice_head.classifiers)} logistic regressions ("
            + ", ".join(f"columns {c.start}-{c.stop}, weight {c.weight:g}" for c in info.voice_head.classifiers)
            + f"), whose log-probabilities are mixed with the model's, weight {info.voice_head.model_weight:g} on the "
            "model's (`livesense/voice.py`). Each regression's logits get a cold shift, fitted so that, trained with "
            "each training corpus left out in turn, it spreads that corpus's clips alone evenly over the labels; it "
            "fades as the stream's running mean fills with the speaker's own windows (`training/voice.py`). "
            "The encoder costs several times the model per window "
            "(`bench/RESULTS.md`)." if info.voice_head else "none."),
        "",
    ]


def _protocol_table(src: _Sources) -> list[str]:
    """One row per protocol run (accuracy / UA under each normalisation) and the protocols not run yet."""
    found = src.found
    lines = [
        "## Evaluation",
        "Every figure names its split. Speaker- and corpus-independent results come first. Columns give "
        "accuracy / unweighted average recall (UA, mean of per-class recalls; fold mean) for three ways of "
        "normalising the test speakers:",
        "",
        *([f"- **{c}**: {d}" for c, d in next(iter(found.values()))["conditions"].items()] if found else []),
        "",
        "| protocol | split | no profile | calibrated | global stats | command |",
        "|---|---|---|---|---|---|",
    ]
    earlier = [name for name, report in found.items() if FeatureConfig.from_dict(report["features"]) != src.info.features]
    for name, report in found.items():
        mark = " (earlier features)" if name in earlier else ""
        lines.append(f"| {name}{mark} | {report['split']} | {_row(report)} | {_command(report['command'])} |")
    if earlier:
        lines += ["", "Protocols marked *earlier features* were run with the recipe before this model's features "
                  "(see its metadata); their figures describe that recipe, not this model."]
    missing = [name for name in ORDER if name not in found]
    if missing:
        lines += ["", f"Not yet run for this model: {', '.join(missing)} (each retrains the model per fold; "
                  "`python -m training evaluate <protocol> --arch " + src.arch + "` produces each)."]
    return lines


def _targets(src: _Sources) -> list[str]:
    """Each target of the issues against its measured figure, then the speaker-group gap and the model size."""
    found = src.found
    lines = ["", "### Targets", "", "| protocol | figure | condition | target | measured | met |", "|---|---|---|---|---|---|"]
    for name, targets in TARGETS.items():
        for label, condition, target in targets:
            if name in found:
                value = _headline(found[name], condition)
                lines.append(f"| {name} | {label} | {condition} | {_pct(target)} | {_pct(value)} | "
                             f"{'yes' if value >= target else '**no**'} |")
    if "cremad-actors" in found:
        gap = found["cremad-actors"]["summary"]["no_profile"]["by_speaker_group"]["largest_gap"]
        lines.append(f"| cremad-actors | largest UA gap between speaker groups | no_profile | ≤ 5.0 points | "
                     f"{gap['points']:.1f} points ({gap['kind']}) | {'yes' if gap['points'] <= 5 else '**no**'} |")
    lines += _runtime_targets(src)
    size = src.onnx.stat().st_size
    if src.info.voice_head:  # an encoder-based model: the issue bounds it at 30 MB, encoder included
        size += ENCODER_PATH.stat().st_size
        lines.append(f"| export | model size with its voice encoder | | ≤ 30 MB | {size / 1e6:.2f} MB | "
                     f"{'yes' if size <= 30e6 else '**no**'} |")
    else:
        lines.append(f"| export | model size | | ≤ 5 MB | {size / 1e6:.2f} MB | {'yes' if size <= 5e6 else '**no**'} |")
    return lines


def _cross_corpus_folds(found: dict[str, dict]) -> list[str]:
    """Cross-corpus UA per held-out corpus under each normalisation."""
    if "cross-corpus" not in found:
        return []
    lines = ["", "### Cross-corpus, per held-out corpus (UA)", "", "| held out | no profile | calibrated | global |", "|---|---|---|---|"]
    for fold in found["cross-corpus"]["folds"]:
        c = fold["conditions"]
        lines.append(f"| {fold['name'].removeprefix('held-out-')} | {_pct(c['no_profile']['ua'])} | "
                     f"{_pct(c['calibrated']['ua'])} | {_pct(c['global']['ua'])} |")
    return lines


def _cremad_contribution(found: dict[str, dict]) -> list[str]:
    """UA on TESS and RAVDESS held out, trained without CREMA-D and with it."""
    if "cross-corpus" not in found or "cross-corpus-no-cremad" not in found:
        return []
    lines = ["", "### Does CREMA-D help on the other corpora? (UA, no profile / calibrated)", "",
             "| held out | trained without CREMA-D | trained with CREMA-D |", "|---|---|---|"]
    with_c = {f["name"]: f["conditions"] for f in found["cross-corpus"]["folds"]}
    for fold in found["cross-corpus-no-cremad"]["folds"]:
        a, b = fold["conditions"], with_c[fold["name"]]
        lines.append(f"| {fold['name'].removeprefix('held-out-')} | {_pct(a['no_profile']['ua'])} / {_pct(a['calibrated']['ua'])} | "
                     f"{_pct(b['no_profile']['ua'])} / {_pct(b['calibrated']['ua'])} |")
    return lines


def _ravdess_six_classes(found: dict[str, dict]) -> list[str]:
    """RAVDESS UA scored on the 6 classes it shares with the other corpora."""
    if "ravdess-actors" not in found:
        return []
    r = found["ravdess-actors"]["summary"]
    return ["", "RAVDESS, 6 shared classes (same 8-class models, best of the 6 shared classes, on clips of "
            f"those classes): UA {_pct(r['no_profile']['six_classes']['ua'])} no profile, "
            f"{_pct(r['calibrated']['six_classes']['ua'])} calibrated."]


def _speaker_groups(found: dict[str, dict], labels: list[str]) -> list[str]:
    """CREMA-D UA and recall by sex and age band, and agreement with the listeners' vote."""
    if "cremad-actors" not in found:
        return []
    s = found["cremad-actors"]["summary"]["no_profile"]
    groups = s["by_speaker_group"]
    vote = s["against_voice_vote"]
    lines = ["", "### By speaker group (CREMA-D actor folds, no profile)", "",
             "| group | clips | UA | " + " | ".join(labels) + " |", "|---|---|---|" + "---|" * len(labels)]
    for name, g in groups["groups"].items():
        lines.append(f"| {name} | {g['n']} | {_pct(g['ua'])} | " + " | ".join(_pct(g["recall"][l]) for l in labels) + " |")
    return lines + ["", f"Largest UA gap: {groups['largest_gap']['points']:.1f} points ({groups['largest_gap']['kind']}).",
                    "", f"Against the listeners' audio-only vote (clips where it names one emotion, n={vote['n']}): "
                    f"accuracy {_pct(vote['accuracy'])}, UA {_pct(vote['ua'])}."]


def _figure(png: Path, alt: str, figures: Path) -> list[str]:
    """The image line for ``png``, copied into ``figures``; nothing if the run made no such figure."""
    if not png.exists():
        return []
    shutil.copy(png, figures / png.name)
    return [f"![{alt}](figures/{png.name})"]


def _figures(src: _Sources, figures: Path) -> list[str]:
    """Confusion matrices and training curves of every protocol run, copied into ``figures``."""
    lines = ["", "### Confusion matrices (pooled over folds)", ""]
    for name in src.found:
        for condition in ("no_profile", "calibrated"):
            png = src.reports / f"{report_stem(name, src.arch)}-{condition}-confusion.png"
            lines += _figure(png, f"{name} {condition}", figures)
    lines += ["", "### Training curves", ""]
    for name in src.found:
        lines += _figure(src.reports / f"{report_stem(name, src.arch)}-curves.png", f"{name} curves", figures)
    return lines


def _limitations(src: _Sources) -> list[str]:
    """Where the reports are, and what the figures do not show."""
    return ["", "Full reports (per fold, per class precision/recall/F1): `models/reports/`.", "",
            "## Limitations",
            "- Acted, read speech in English from three corpora; spontaneous speech, other languages and noisy rooms "
            "are harder. Emotion in the voice is ambiguous even to people: listeners agree with CREMA-D's acted "
            "label on 42% of clips.",
            "- 6 classes only; 'neutral' is the fallback for anything else (surprise, calm, contempt).",
            *_stale_windows(src.train, src.found),
            "- TESS is two women: the random-split figure measures memorisation, not generalisation.",
            "- TESS (CC BY-NC-ND) and RAVDESS (CC BY-NC-SA) are non-commercial: a model trained on them "
            "inherits those terms. Train with `--corpora cremad` for a model free of non-commercial data.",
            "- Not for inferring the emotions of employees at work or students in education: the EU AI Act "
            "(Art. 5(1)(f)) prohibits this. Not for decisions about people.",
            ""]


def write_card(arch: str, reports: Path, models: Path) -> Path:
    """Render ``models/<arch>.md`` from ``reports/*-<arch>.json`` and the model's metadata;
    copy the figures it shows into ``models/figures`` and the reports it cites into ``models/reports``."""
    onnx = models / f"{arch}.onnx"
    report_paths = {name: reports / f"{report_stem(name, arch)}.json" for name in ORDER}
    found = {name: json.loads(path.read_text()) for name, path in report_paths.items() if path.exists()}
    src = _Sources(arch, EmotionModel(onnx).info, json.loads((models / f"{arch}.train.json").read_text()), onnx,
                   reports, found)
    figures = models / "figures"
    figures.mkdir(exist_ok=True)
    lines = [f"# Model card: `{arch}`", "",
             *_headline_section(src), *_baseline_comparison(src), *_clip_baseline_comparison(src),
             *_runtime_section(src, figures), *_what_it_is(src), *_features_section(src.info),
             *_protocol_table(src), *_targets(src),
             *_cross_corpus_folds(found), *_cremad_contribution(found), *_ravdess_six_classes(found),
             *_speaker_groups(found, src.info.labels), *_figures(src, figures), *_limitations(src)]
    (models / "reports").mkdir(exist_ok=True)
    cited = [report_paths[name] for name in found] + _seed_repeats(reports, arch)
    for report in cited + [r for r in (src.baseline, src.clip_baseline) if r.exists()]:
        shutil.copy(report, models / "reports" / report.name)
    path = models / f"{arch}.md"
    path.write_text("\n".join(lines))
    return path
