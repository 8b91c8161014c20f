"""Turning clip windows into arrays and fitting a model with early stopping on held-out speakers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from livesense.features import FeatureConfig
from livesense.normalization import FeatureStats, RunningStats, normalize_running

from .dataset import ClipWindows
from .models import BUILDERS, DEFAULTS, ENSEMBLE_MEMBERS, TIME_STD_EPSILON


@dataclass
class FitOptions:
    """Training settings; ``epochs``/``batch_size`` default to each design's published values.
    The ``logreg`` baseline is fitted to convergence instead and takes only ``seed``,
    ``reference``, ``cold_copies`` and ``level_prior_frames`` from here (see :func:`fit_logreg`)."""

    epochs: int | None = None
    batch_size: int | None = None
    # Speed/gain/noise copies of each clip (dataset.AUGMENTATIONS) triple the
    # training time and gain nothing across corpora, but they matter where few
    # voices train (one on tess-cross-speaker): they stay on. The measurements are
    # in models/reports/recipe-experiments.md.
    augment_copies: bool = True
    # Which set of copies (dataset.AUGMENTATIONS): "gain-noise" (the shipped
    # models') or "channels" (random microphones, rooms, codecs, noise, gains).
    copies: str = "gain-noise"
    # Copies normalised as a fresh stream normalises them (running statistics
    # from the training voices' pooled prior, over that clip alone: what
    # `livesense file clip` does) rather than by their speaker's statistics.
    # None by default: in the recipes measured with it, through the runtime, the
    # cold and session figures were lower (recipe-experiments.md, session 10).
    cold_copies: tuple[int, ...] = ()
    # Augmented copies normalised by their speaker's statistics through that same
    # copy (its gain, speed and noise), as running statistics know a voice once a
    # session has heard it through one microphone, rather than by the original
    # recording's: a -6 dB copy then no longer trains as a speaker 6 dB quieter
    # than usual (which teaches the level term noise).
    copy_stats: bool = False
    # Prior weight of the level term (c0) in running statistics, recorded in the
    # model's metadata for the runtime (see RunningStats); None: that of every term.
    level_prior_frames: int | None = None
    # Fit a voice head (training.voice) and record it in the model's metadata.
    voice_head: bool = False
    spec_augment: bool = True
    patience: int = 6
    seed: int = 0
    learning_rate: float = 1e-3
    # Speaker reference for normalisation: "all" of the speaker's speech (what
    # running statistics converge to) or only their "neutral" clips.
    reference: str = "all"


@dataclass
class FitResult:
    model: keras.Model
    history: dict = field(default_factory=dict)
    best_epoch: int = 0
    members: dict[str, "FitResult"] = field(default_factory=dict)  # an ensemble's, by name


def copy_statistics(items: list[ClipWindows], copy: int, reference: str = "all") -> dict[str, FeatureStats]:
    """Per speaker, the statistics of the speech frames of copy ``copy`` of their
    clips among ``items`` (with ``reference`` "neutral", of their neutral clips
    only, as :meth:`~training.data.TrainingData.reference` chooses for the originals): what running
    statistics converge to over a session of that voice recorded as the copy is
    (frames of overlapping windows count once per window, as at run time)."""
    frames: dict[str, list[np.ndarray]] = {}
    for item in items:
        if reference == "all" or item.clip.emotion == "neutral":
            frames.setdefault(item.clip.speaker, []).append(item.windows[copy][item.speech[copy]])
    return {speaker: FeatureStats.from_frames(np.concatenate(parts)) for speaker, parts in frames.items()}


def window_arrays(items: list[ClipWindows], stats: dict[str, FeatureStats], labels: list[str],
                  copies: tuple[int, ...] = (0,), prior: FeatureStats | None = None,
                  cold_copies: tuple[int, ...] = (), level_prior_frames: int | None = None,
                  stats_by_copy: dict[int, dict[str, FeatureStats]] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised windows X (n, frames, features), label indices y (n,), clip index (n,).

    Each clip's windows are normalised by ``stats[clip.speaker]`` (a copy in
    ``stats_by_copy`` by ``stats_by_copy[copy][clip.speaker]``), but those of
    ``cold_copies`` as a fresh engine normalises a stream of that clip alone:
    running statistics started from ``prior`` (the model's global statistics;
    its level term weighted ``level_prior_frames``, see :class:`RunningStats`).
    """
    xs, ys, owners = [], [], []
    for index, item in enumerate(items):
        for copy in copies:
            windows = item.windows[copy]
            if copy in cold_copies:
                running = RunningStats(prior, level_prior_frames=level_prior_frames)
                xs.append(normalize_running(running, windows, item.speech[copy]))
            else:
                xs.append((stats_by_copy or {}).get(copy, stats)[item.clip.speaker].normalize(windows))
            ys.append(np.full(len(windows), labels.index(item.clip.emotion)))
            owners.append(np.full(len(windows), index))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(owners)


class _MaskedBatches(keras.utils.PyDataset):
    """Shuffled batches with SpecAugment-style time and feature masks (set to 0, the mean).

    A feature mask blanks a few MFCC bands and, with ``deltas``, the same bands'
    deltas (the first ``n_mfcc`` and the next ``n_mfcc`` feature columns)."""

    def __init__(self, x, y, batch_size, seed, masks, n_mfcc: int, deltas: bool):
        super().__init__()
        self.x, self.y, self.batch_size, self.masks = x, y, batch_size, masks
        self.n_mfcc, self.deltas = n_mfcc, deltas
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[rows].copy()
        if self.masks:
            frames, bands = x.shape[1], self.n_mfcc
            for sample in x:
                t0 = self.rng.integers(0, frames - 10)
                sample[t0 : t0 + self.rng.integers(0, 10)] = 0
                b0 = self.rng.integers(0, bands - 4)
                width = self.rng.integers(0, 4)
                sample[:, b0 : b0 + width] = 0  # the MFCC bands ...
                if self.deltas:
                    sample[:, bands + b0 : bands + b0 + width] = 0  # ... and their deltas
        return x, self.y[rows]


class _EpochProgress(keras.callbacks.Callback):
    def __init__(self, progress: Progress, task):
        super().__init__()
        self.progress, self.task = progress, task

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.progress.update(self.task, advance=1, status=f"loss {logs.get('loss', 0):.3f} val_loss {logs.get('val_loss', 0):.3f} val_acc {logs.get('val_accuracy', 0):.3f}")


def window_statistics(x: np.ndarray) -> np.ndarray:
    """What the logreg graph pools from windows (n, frames, features): each
    window's mean and standard deviation over time, float64 (n, 2 * features)."""
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([x.mean(axis=1), np.sqrt(x.var(axis=1) + TIME_STD_EPSILON)], axis=1)


def fit_logreg(train: list[ClipWindows], val: list[ClipWindows], stats: dict[str, FeatureStats],
               labels: list[str], options: FitOptions, prior: FeatureStats) -> FitResult:
    """The logistic-regression baseline, fitted by scikit-learn (L-BFGS to
    convergence, C = 0.1) on the original windows (and on ``options.cold_copies``
    normalised as a fresh stream normalises them), with each (speaker, emotion)
    pair weighted equally, then set into the Keras ``logreg`` graph for export.

    That weighting and no augmented copies are what the cross-corpus proxy
    measured best for this model (models/reports/recipe-experiments.md).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    # The original windows, and the cold copies (as a fresh stream normalises them) if any.
    x, y, owners = window_arrays(train, stats, labels, (0, *options.cold_copies), prior, options.cold_copies,
                                 options.level_prior_frames)
    speaker_ids = {speaker: i for i, speaker in enumerate(sorted({item.clip.speaker for item in train}))}
    pair = np.array([speaker_ids[item.clip.speaker] for item in train])[owners] * len(labels) + y
    pair_counts = np.bincount(pair)  # windows per (speaker, emotion)
    weights = len(y) / (np.count_nonzero(pair_counts) * pair_counts[pair])
    features = window_statistics(x)
    classifier = LogisticRegression(C=0.1, max_iter=5000, random_state=options.seed)
    classifier.fit(features, y, sample_weight=weights)
    if classifier.n_iter_.max() >= classifier.max_iter:
        raise RuntimeError(f"logreg did not converge in {classifier.max_iter} L-BFGS iterations")
    if list(classifier.classes_) != list(range(len(labels))):
        raise ValueError(f"training windows lack classes: {sorted(set(labels) - {labels[c] for c in classifier.classes_})}")
    model = BUILDERS["logreg"](x.shape[1], x.shape[2], len(labels))
    model.get_layer("probabilities").set_weights([classifier.coef_.T.astype(np.float32),
                                                  classifier.intercept_.astype(np.float32)])
    # The graph must compute what scikit-learn fitted (same pooling, same order).
    check = slice(0, 256)
    difference = np.abs(model.predict(x[check], verbose=0) - classifier.predict_proba(features[check])).max()
    if difference > 1e-4:
        raise RuntimeError(f"logreg graph and scikit-learn disagree by {difference:.1e}")
    x_val, y_val, _ = window_arrays(val, stats, labels)
    history = {}
    for prefix, (xs, ys) in (("", (features, y)), ("val_", (window_statistics(x_val), y_val))):
        probs = classifier.predict_proba(xs)
        history[f"{prefix}loss"] = [float(log_loss(ys, probs, labels=range(len(labels))))]
        history[f"{prefix}accuracy"] = [float(np.mean(probs.argmax(1) == ys))]
    return FitResult(model, history, best_epoch=1)


def fit(arch: str, train: list[ClipWindows], val: list[ClipWindows], stats: dict[str, FeatureStats],
        labels: list[str], options: FitOptions, config: FeatureConfig, prior: FeatureStats) -> FitResult:
    """Train ``arch`` on ``train`` (speaker-normalised but for ``options.cold_copies``,
    class-balanced), early-stopped on ``val``; ``config`` describes the windows'
    features and ``prior`` is the global statistics the model will ship with."""
    if arch == "logreg":
        return fit_logreg(train, val, stats, labels, options, prior)
    if arch == "ensemble":
        results = {name: fit(name, train, val, stats, labels, options, config, prior) for name in ENSEMBLE_MEMBERS}
        x = train[0].windows[0]
        model = BUILDERS["ensemble"](x.shape[1], x.shape[2], len(labels))
        for name, result in results.items():
            model.get_layer(name).set_weights(result.model.get_weights())
        return FitResult(model, results["cnn"].history, results["cnn"].best_epoch, results)  # cnn's curves: logreg has none
    keras.utils.set_random_seed(options.seed)
    batch, max_epochs = DEFAULTS[arch]
    batch, max_epochs = options.batch_size or batch, options.epochs or max_epochs
    copies = tuple(range(len(train[0].windows))) if options.augment_copies else (0,)
    by_copy = ({copy: copy_statistics(train, copy, options.reference) for copy in copies[1:]}
               if options.copy_stats else None)
    x, y, _ = window_arrays(train, stats, labels, copies, prior, options.cold_copies, options.level_prior_frames,
                            by_copy)
    x_val, y_val, _ = window_arrays(val, stats, labels)
    counts = np.bincount(y, minlength=len(labels))
    class_weight = {i: len(y) / (len(labels) * max(c, 1)) for i, c in enumerate(counts)}
    model = BUILDERS[arch](x.shape[1], x.shape[2], len(labels))
    model.compile(optimizer=keras.optimizers.Adam(options.learning_rate),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(patience=options.patience, restore_best_weights=True)
    onehot = lambda v: keras.utils.to_categorical(v, len(labels))  # noqa: E731
    data = _MaskedBatches(x, onehot(y), batch, options.seed, options.spec_augment, config.n_mfcc, config.deltas)
    with Progress(TextColumn(f"{arch} epochs"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), TextColumn("{task.fields[status]}")) as progress:
        task = progress.add_task("fit", total=max_epochs, status="")
        history = model.fit(data, validation_data=(x_val, onehot(y_val)), epochs=max_epochs,
                            class_weight=class_weight, verbose=0,
                            callbacks=[stop, _EpochProgress(progress, task)])
    best = int(np.argmin(history.history["val_loss"])) + 1
    return FitResult(model, history.history, best)


def predict_clips(model: keras.Model, items: list[ClipWindows], stats: dict[str, FeatureStats],
                  labels: list[str]) -> np.ndarray:
    """Clip-level probabilities (n_clips, n_classes): the mean over each clip's windows.

    Only the unaugmented copy is used. Every clip's emotion must be in ``labels``.
    """
    x, _, owners = window_arrays(items, stats, labels)
    window_probs = model.predict(x, batch_size=256, verbose=0)
    sums = np.zeros((len(items), window_probs.shape[1]))
    np.add.at(sums, owners, window_probs)
    return sums / np.bincount(owners, minlength=len(items))[:, None]

