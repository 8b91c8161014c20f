"""Model cards: ``models/<arch>.md`` written from the evaluation reports, never by hand,
so that every figure in a card is the one a command produced."""
from __future__ import annotations

import json
import re
import shutil
import statistics
from pathlib import Path

from livesense.model import EmotionModel

from .dataset import WINDOWS_VERSION
from .protocols import report_stem


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


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


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


def _stale_windows(train: dict, found: dict) -> list[str]:
    """A limitation line when the model or a report predates the current way of cutting windows."""
    stale = [name for name, report in found.items() if report.get("windows_version", 1) < WINDOWS_VERSION]
    if train.get("windows_version", 1) < WINDOWS_VERSION:
        stale.insert(0, "the model itself")
    if not stale:
        return []
    return [f"- Made before a training fix ({', '.join(stale)}): clips were cut with one WebRTC VAD shared by all "
            "clips, whose adaptation carried over from clip to clip, where the runtime starts a fresh one per "
            "stream. Retraining with the current code changes these figures (for the `cnn`, by about a point)."]


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


def write_card(arch: str, reports: Path, models: Path) -> Path:
    """Render ``models/<arch>.md`` from ``reports/*-<arch>.json`` and the model's metadata."""
    model = EmotionModel(models / f"{arch}.onnx")
    info = model.info
    train = json.loads((models / f"{arch}.train.json").read_text())
    figures = models / "figures"
    figures.mkdir(exist_ok=True)
    report_paths = {name: reports / f"{report_stem(name, arch)}.json" for name in ORDER}
    found = {name: json.loads(path.read_text()) for name, path in report_paths.items() if path.exists()}
    lines = [f"# Model card: `{arch}`", ""]
    if "cross-corpus" in found:
        cc = found["cross-corpus"]
        lines += [f"**Headline — cross-corpus mean UA (train on two corpora, test on the third, 6 classes):** "
                  f"{_pct(_headline(cc, 'no_profile'))} without a profile, "
                  f"{_pct(_headline(cc, 'calibrated'))} with a calibration profile.", ""]
        lines += _seed_spread(cc, reports, arch)
    else:
        lines += ["**Headline — not measured yet:** this model has no cross-corpus evaluation, so it is not "
                  "known to beat the logistic-regression baseline; prefer `ensemble` (the default), whose figures are.", ""]
    baseline = reports / f"{report_stem('cross-corpus', 'logreg')}.json"
    if arch == "logreg":
        lines += ["This model is the baseline every shipped model must beat: a logistic regression on the mean "
                  "and standard deviation over time of the same normalised features, fitted by scikit-learn "
                  "(L-BFGS to convergence, C = 0.1, each speaker–emotion pair weighted equally) on the original "
                  "windows, its weights then set into a Keras graph for export.", ""]
    elif "cross-corpus" in found and baseline.exists():
        lr = json.loads(baseline.read_text())
        cc = found["cross-corpus"]
        verdict = ("beats" if all(_headline(cc, c) > _headline(lr, c) for c in ("no_profile", "calibrated"))
                   else "does **not** beat")
        same = lr["features"] == info.features.to_dict()
        lines += [f"Against the baseline every shipped model must beat — logistic regression on the mean and "
                  f"standard deviation of the "
                  + ("same normalised features" if same else "normalised features of the current recipe (this "
                     "model's differ: see its metadata below)")
                  + ", same protocol and pipeline "
                  f"({_command(lr['command'])}): {_pct(_headline(lr, 'no_profile'))} without a profile, "
                  f"{_pct(_headline(lr, 'calibrated'))} calibrated. This model {verdict} it.", ""]
    clip_baseline = reports / "cross-corpus-clip-logreg.json"
    if "cross-corpus" in found and clip_baseline.exists():
        clip = json.loads(clip_baseline.read_text())["summary"]
        own = _headline(found["cross-corpus"], "no_profile")
        verdicts = {v: "beats" if own > clip[v]["fold_mean_ua"] else "does **not** beat" for v in ("clip", "windows")}
        lines += [f"The reference in the new-voices issue is a logistic regression on each *whole clip's* statistics "
                  f"(`python -m training baseline`; speakers normalised by all their clips, one WebRTC VAD per clip): "
                  f"{_pct(clip['clip']['fold_mean_ua'])} mean UA here; on the runtime's {info.features.window_s:g} s "
                  f"windows instead, the same classifier scores {_pct(clip['windows']['fold_mean_ua'])}. Without a "
                  f"profile this model ({_pct(own)}) {verdicts['clip']} the whole-clip figure and {verdicts['windows']} "
                  f"the windowed one.", ""]
    size = (models / f"{arch}.onnx").stat().st_size
    lines += [
        "## What it is",
        f"- File: `models/{arch}.onnx` ({size / 1e6:.2f} MB), ONNX opset 17, exported with tf2onnx from Keras"
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
        f"{train['parity_max_abs_diff']:.1e}).",
        "",
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
    for name, report in found.items():
        lines.append(f"| {name} | {report['split']} | {_row(report)} | {_command(report['command'])} |")
    missing = [name for name in ORDER if name not in found]
    if missing:
        lines += ["", f"Not yet run for this model: {', '.join(missing)} (each retrains the model per fold; "
                  "`python -m training evaluate <protocol> --arch " + arch + "` produces each)."]
    lines += ["", "### Targets", "", "| protocol | figure | condition | target | measured | met |", "|---|---|---|---|---|---|"]
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
    size_ok = (models / f"{arch}.onnx").stat().st_size <= 5e6
    lines.append(f"| export | model size | | ≤ 5 MB | {(models / f'{arch}.onnx').stat().st_size / 1e6:.2f} MB | "
                 f"{'yes' if size_ok else '**no**'} |")
    if "cross-corpus" in found:
        lines += ["", "### Cross-corpus, per held-out corpus (UA)", "", "| held out | no profile | calibrated | global |", "|---|---|---|---|"]
        for fold in found["cross-corpus"]["folds"]:
            c = fold["conditions"]
            lines.append(f"| {fold['name'].removeprefix('held-out-')} | {_pct(c['no_profile']['ua'])} | "
                         f"{_pct(c['calibrated']['ua'])} | {_pct(c['global']['ua'])} |")
    if "cross-corpus" in found and "cross-corpus-no-cremad" in found:
        lines += ["", "### Does CREMA-D help on the other corpora? (UA, no profile / calibrated)", "",
                  "| held out | trained without CREMA-D | trained with CREMA-D |", "|---|---|---|"]
        with_c = {f["name"]: f["conditions"] for f in found["cross-corpus"]["folds"]}
        for fold in found["cross-corpus-no-cremad"]["folds"]:
            a, b = fold["conditions"], with_c[fold["name"]]
            lines.append(f"| {fold['name'].removeprefix('held-out-')} | {_pct(a['no_profile']['ua'])} / {_pct(a['calibrated']['ua'])} | "
                         f"{_pct(b['no_profile']['ua'])} / {_pct(b['calibrated']['ua'])} |")
    if "ravdess-actors" in found:
        r = found["ravdess-actors"]["summary"]
        lines += ["", "RAVDESS, 6 shared classes (same 8-class models, best of the 6 shared classes, on clips of "
                  f"those classes): UA {_pct(r['no_profile']['six_classes']['ua'])} no profile, "
                  f"{_pct(r['calibrated']['six_classes']['ua'])} calibrated."]
    if "cremad-actors" in found:
        s = found["cremad-actors"]["summary"]["no_profile"]
        groups = s["by_speaker_group"]
        vote = s["against_voice_vote"]
        lines += ["", "### By speaker group (CREMA-D actor folds, no profile)", "",
                  "| group | clips | UA | " + " | ".join(info.labels) + " |", "|---|---|---|" + "---|" * len(info.labels)]
        for name, g in groups["groups"].items():
            lines.append(f"| {name} | {g['n']} | {_pct(g['ua'])} | " + " | ".join(_pct(g["recall"][l]) for l in info.labels) + " |")
        lines += ["", f"Largest UA gap: {groups['largest_gap']['points']:.1f} points ({groups['largest_gap']['kind']}).",
                  "", f"Against the listeners' audio-only vote (clips where it names one emotion, n={vote['n']}): "
                  f"accuracy {_pct(vote['accuracy'])}, UA {_pct(vote['ua'])}."]
    lines += ["", "### Confusion matrices (pooled over folds)", ""]
    for name in found:
        for condition in ("no_profile", "calibrated"):
            png = reports / f"{report_stem(name, arch)}-{condition}-confusion.png"
            if png.exists():
                shutil.copy(png, figures / png.name)
                lines.append(f"![{name} {condition}](figures/{png.name})")
    lines += ["", "### Training curves", ""]
    for name in found:
        png = reports / f"{report_stem(name, arch)}-curves.png"
        if png.exists():
            shutil.copy(png, figures / png.name)
            lines.append(f"![{name} curves](figures/{png.name})")
    lines += ["", "Full reports (per fold, per class precision/recall/F1): `models/reports/`.", "",
              "## Limitations",
              "- Acted, read speech in English from three corpora; spontaneous speech, other languages and noisy rooms "
              "are harder. Emotion in the voice is ambiguous even to people: listeners agree with CREMA-D's acted "
              "label on 42% of clips.",
              "- 6 classes only; 'neutral' is the fallback for anything else (surprise, calm, contempt).",
              *_stale_windows(train, found),
              "- TESS is two women: the random-split figure measures memorisation, not generalisation.",
              "- TESS (CC BY-NC-ND) and RAVDESS (CC BY-NC-SA) are non-commercial: a model trained on them "
              "inherits those terms. Train with `--corpora cremad` for a model free of non-commercial data.",
              "- Not for inferring the emotions of employees at work or students in education: the EU AI Act "
              "(Art. 5(1)(f)) prohibits this. Not for decisions about people.",
              ""]
    (models / "reports").mkdir(exist_ok=True)
    cited = [report_paths[name] for name in found] + _seed_repeats(reports, arch)
    for report in cited + [r for r in (baseline, clip_baseline) if r.exists()]:
        shutil.copy(report, models / "reports" / report.name)
    path = models / f"{arch}.md"
    path.write_text("\n".join(lines))
    return path
