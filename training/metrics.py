"""Scores and figures for an evaluation: accuracy, UA, per-class P/R/F1, confusion and curves."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # noqa: E402


def scores(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, unweighted average recall (UA, the mean of per-class recalls over the
    classes present in ``y_true``), per-class precision/recall/F1 and the confusion matrix."""
    present = sorted(set(int(v) for v in y_true))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=range(len(labels)), zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "ua": float(np.mean(recall[present])),
        "per_class": {
            labels[i]: {"precision": float(precision[i]), "recall": float(recall[i]),
                        "f1": float(f1[i]), "support": int(support[i])}
            for i in range(len(labels))
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=range(len(labels))).tolist(),
    }


def plot_confusion(confusion: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix (rows: true class) with counts, saved as PNG."""
    counts = np.asarray(confusion)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(labels), 0.8 + 0.75 * len(labels)))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{rates[i, j]:.0%}\n{counts[i, j]}", ha="center", va="center",
                    fontsize=8, color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(histories: list[dict], title: str, path: Path) -> None:
    """Training and validation loss and accuracy per epoch, one line per fold."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for fold, history in enumerate(histories):
        for ax, key in zip(axes, ("loss", "accuracy")):
            # Markers: a model fitted in one step (logreg) has one point per fold.
            line, = ax.plot(history[key], marker=".", label=f"fold {fold} train")
            ax.plot(history[f"val_{key}"], "--", marker=".", color=line.get_color(), label=f"fold {fold} val")
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_robustness(runtime: dict, title: str, path: Path) -> None:
    """Fold-mean UA of each runtime mode against gain (left) and per channel of
    the channel-shift panel (right), from a report's ``runtime`` summary."""
    modes = runtime["by_mode"]
    fig, (gain_ax, channel_ax) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
    for mode, entry in modes.items():
        gains = [float(g) for g in entry["gain_fold_mean_ua"]]
        values = [100 * (v if v is not None else np.nan) for v in entry["gain_fold_mean_ua"].values()]
        gain_ax.plot(gains, values, marker="o", label=mode)
    gain_ax.set_xlabel("gain relative to the recording (dB)")
    gain_ax.set_ylabel("UA, mean over held-out corpora (%)")
    gain_ax.grid(alpha=0.3)
    gain_ax.legend(fontsize=8)
    with_channels = [m for m, e in modes.items() if "channel_fold_mean_ua" in e]
    channels = ["as recorded", *runtime["channels"]]
    width = 0.8 / max(len(with_channels), 1)
    for k, mode in enumerate(with_channels):
        entry = modes[mode]
        values = [entry["gain_fold_mean_ua"]["+0"], *entry["channel_fold_mean_ua"].values()]
        channel_ax.bar(np.arange(len(channels)) + k * width, [100 * v for v in values], width, label=mode)
    channel_ax.set_xticks(np.arange(len(channels)) + width * (len(with_channels) - 1) / 2, channels,
                          rotation=35, ha="right", fontsize=8)
    channel_ax.set_ylabel("UA (%)")
    channel_ax.grid(alpha=0.3, axis="y")
    channel_ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
