"""Held-out clips scored as users meet the runtime, through the real
:class:`~livesense.recognizer.Recognizer` and an exported ONNX model.

The modes, one per way livesense is used (:data:`MODES`):

- ``cold``: each clip alone through a fresh engine, as ``livesense file clip`` runs;
- ``session``: each speaker's clips in a seeded order, with :data:`SESSION_GAP_S`
  of silence between them, as one recording through one engine, as ``listen``
  hears a speaker; each clip is judged by the windows centred in it;
- ``calibrated``: a profile made by :func:`~livesense.calibration.calibrate_audio`
  (what ``livesense calibrate`` runs) from half of the speaker's neutral clips,
  played as one take; then a session of the speaker's other clips with it;
- ``calibrated_adaptive``: the same, the profile seeding the running statistics
  (``StreamEngine(profile_adapts=True)``) instead of fixing the normalisation.

A clip's label is the file verdict (:meth:`~livesense.summary.SessionSummary.verdict`)
of its windows (in a session, of the windows centred in it); a clip with no
speech window is labelled "silence", which is never right. Every mode runs at
each gain of :data:`GAINS_DB` (relative to the clip as recorded, peaks clipped at
full scale as a sound card would) and, for ``cold`` and ``session``, through
each channel of the ``channel-shift`` panel (:data:`~training.channels.CHANNEL_PANEL`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from livesense.calibration import CalibrationError, calibrate_audio
from livesense.engine import StreamEngine
from livesense.model import EmotionModel
from livesense.normalization import FeatureStats
from livesense.recognizer import FILE_BATCH, Recognizer
from livesense.summary import SessionSummary

from .channels import CHANNEL_PANEL, through_panel
from .corpora import Clip
from .metrics import scores

GAINS_DB = (-30.0, -20.0, -10.0, 0.0, 6.0)
SESSION_GAP_S = 1.0
MODES = {
    "cold": "each clip alone through a fresh engine (livesense file clip)",
    "session": f"each speaker's clips as one recording in a seeded order, {SESSION_GAP_S:g} s of silence between "
               "them, through one engine (livesense listen)",
    "calibrated": "a profile from half of the speaker's neutral clips through calibrate_audio (livesense calibrate), "
                  "then a session of the speaker's other clips normalised by the profile (livesense listen --profile)",
    "calibrated_adaptive": "the same, the profile seeding running statistics that the session's speech refines",
}
SILENCE_LABEL = "silence"


@dataclass
class HeldOut:
    """Held-out clips with their audio (float32 (n,) at the model's rate), in one order."""

    clips: list[Clip]
    audio: list[np.ndarray]

    def transformed(self, gain_db: float = 0.0, channel: str | None = None, rate: int = 16000) -> "HeldOut":
        """The same clips through panel ``channel`` (None: as recorded), then ``gain_db``."""
        scale = np.float32(10 ** (gain_db / 20))
        audio = []
        for clip, samples in zip(self.clips, self.audio):
            if channel is not None:
                samples = through_panel(samples, rate, channel, clip.path.name)
            audio.append(np.clip(samples * scale, -1.0, 1.0) if gain_db else samples)
        return HeldOut(self.clips, audio)


def _verdict(windows) -> str:
    """The file verdict of ``windows`` (what ``livesense file`` prints as overall)."""
    summary = SessionSummary()
    for window in windows:
        summary.add(window.start_s, window.end_s, window.label, window.raw_probabilities)
    return summary.verdict().label


def _by_speaker(clips: list[Clip]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(clip.speaker, []).append(i)
    return groups


def cold_labels(model: EmotionModel, held: HeldOut) -> list[str]:
    """Each clip's file verdict, the clip alone through a fresh engine."""
    recognizer = Recognizer(model)
    return [_verdict(recognizer.stream([audio], batch=FILE_BATCH)) for audio in held.audio]


def session_labels(model: EmotionModel, held: HeldOut, seed: int,
                   profiles: dict[str, FeatureStats] | None = None, profile_adapts: bool = False) -> list[str | None]:
    """Each clip's verdict from a session of its speaker's clips (see the module
    docstring); with ``profiles``, each speaker's session uses their profile, and
    the clips of speakers without one get None."""
    rate = model.features.sample_rate
    gap = np.zeros(int(SESSION_GAP_S * rate), np.float32)
    labels: list[str | None] = [None] * len(held.clips)
    for speaker, indices in sorted(_by_speaker(held.clips).items()):
        if profiles is not None and speaker not in profiles:
            continue
        for i in indices:
            labels[i] = SILENCE_LABEL  # unless a speech window is centred in it
        profile = None if profiles is None else profiles[speaker]
        engine = StreamEngine(model, profile, batch=FILE_BATCH, profile_adapts=profile_adapts)
        order = np.random.default_rng([seed, len(indices)]).permutation(indices)
        pieces, owner_ends = [gap], []  # owner_ends: (end sample, clip index) in stream order
        position = len(gap)
        for i in order:
            pieces += [held.audio[i], gap]
            position += len(held.audio[i])
            owner_ends.append((position, int(i)))
            position += len(gap)
        ends = np.array([end for end, _ in owner_ends])
        owners = [i for _, i in owner_ends]
        windows: dict[int, list] = {}
        for window in [result for piece in pieces for result in engine.feed(piece)] + engine.finish():
            centre = 0.5 * (window.start_s + window.end_s) * rate
            slot = int(np.searchsorted(ends, centre))  # the clip ending after the centre ...
            starts = ends[slot] - len(held.audio[owners[slot]]) if slot < len(ends) else None
            if starts is not None and centre >= starts:  # ... if the centre is inside it, not in a gap
                windows.setdefault(owners[slot], []).append(window)
        for i, clip_windows in windows.items():
            labels[i] = _verdict(clip_windows)
    return labels


def calibration_takes(model: EmotionModel, held: HeldOut, seed: int) -> tuple[dict[str, FeatureStats], set[int], dict]:
    """Each speaker's profile, made by :func:`~livesense.calibration.calibrate_audio`
    from half of their neutral clips (seeded) played as one take with
    :data:`SESSION_GAP_S` of silence after each; the indices of those clips; and
    what happened: ``{"speakers": n, "calibrated": n, "refused": {speaker: reason}}``
    (a take with too little speech is refused, as ``livesense calibrate`` refuses it)."""
    gap = np.zeros(int(SESSION_GAP_S * model.features.sample_rate), np.float32)
    profiles, taken, refused = {}, set(), {}
    groups = _by_speaker(held.clips)
    for speaker, indices in sorted(groups.items()):
        neutral = [i for i in indices if held.clips[i].emotion == "neutral"]
        take = sorted(np.random.default_rng([seed, len(neutral)]).permutation(neutral)[: (len(neutral) + 1) // 2].tolist())
        taken |= set(take)
        audio = np.concatenate([piece for i in take for piece in (held.audio[i], gap)] or [gap])
        try:
            stats = calibrate_audio(audio, model, speaker).stats
        except CalibrationError as err:
            refused[speaker] = str(err).split(";")[0]
            continue
        profiles[speaker] = stats.leading(model.features.n_features)  # a profile has pitch; the model may not
    return profiles, taken, {"speakers": len(groups), "calibrated": len(profiles), "refused": refused}


def label_scores(clips: list[Clip], predicted: list[str | None], labels: list[str]) -> dict | None:
    """UA and the rest (:func:`~training.metrics.scores`, "silence" a column that is
    never right) of the clips with a prediction, plus ``largest_share``: the share
    of those clips given the most frequent label (1/6 when spread evenly, 1.0
    when one label is said to everything). None without any prediction."""
    kept = [(c, p) for c, p in zip(clips, predicted) if p is not None]
    if not kept:
        return None
    columns = labels + [SILENCE_LABEL]
    y_true = np.array([columns.index(c.emotion) for c, _ in kept])
    y_pred = np.array([columns.index(p) for _, p in kept])
    result = scores(y_true, y_pred, columns)
    label, count = Counter(p for _, p in kept).most_common(1)[0]
    result["largest_share"] = {"label": label, "share": count / len(kept)}
    result["no_speech_share"] = float(np.mean(y_pred == columns.index(SILENCE_LABEL)))
    return result


def score_modes(model: EmotionModel, held: HeldOut, labels: list[str], seed: int,
                modes: tuple[str, ...] = tuple(MODES)) -> dict:
    """Scores (:func:`label_scores`) of ``held`` under each of ``modes``; with the
    calibrated modes, also "session" on the same clips ("session_on_calibrated_clips":
    the speakers with a profile, their profile clips left out) and what calibration
    did ("calibration")."""
    result = {}
    if "cold" in modes:
        result["cold"] = label_scores(held.clips, cold_labels(model, held), labels)
    if "session" in modes:
        result["session"] = label_scores(held.clips, session_labels(model, held, seed), labels)
    calibrated = [m for m in modes if m.startswith("calibrated")]
    if calibrated:
        profiles, taken, result["calibration"] = calibration_takes(model, held, seed)
        rest = [i for i in range(len(held.clips)) if i not in taken]
        others = HeldOut([held.clips[i] for i in rest], [held.audio[i] for i in rest])
        same = session_labels(model, others, seed)
        with_profile = {c.speaker for c in held.clips if c.speaker in profiles}
        result["session_on_calibrated_clips"] = label_scores(
            others.clips, [p if c.speaker in with_profile else None for c, p in zip(others.clips, same)], labels)
        for mode in calibrated:
            predicted = session_labels(model, others, seed, profiles, profile_adapts=mode == "calibrated_adaptive")
            result[mode] = label_scores(others.clips, predicted, labels)
    return result


def runtime_protocols(models: dict[str, EmotionModel], full: HeldOut, sweep: HeldOut, labels: list[str],
                      seed: int, modes: tuple[str, ...] = tuple(MODES)) -> dict[str, dict]:
    """Each of ``modes`` on ``full`` (clips as recorded), and on ``sweep`` (a subset)
    at each gain of :data:`GAINS_DB` and, for cold and session, through each panel
    channel, for each of ``models`` (which share each condition's audio).

    Returns per model name ``{"clean": {mode: scores}, "gain": {gain: {mode: scores}},
    "channel": {channel: {mode: scores}}}`` (gains as strings, e.g. "-30").
    """
    rate = next(iter(models.values())).features.sample_rate
    result = {name: {"clean": score_modes(model, full, labels, seed, modes), "gain": {}, "channel": {}}
              for name, model in models.items()}
    for gain in GAINS_DB:
        played = sweep.transformed(gain, rate=rate)
        for name, model in models.items():
            result[name]["gain"][f"{gain:+g}"] = score_modes(model, played, labels, seed, modes)
    panel_modes = tuple(m for m in ("cold", "session") if m in modes)
    for channel in CHANNEL_PANEL if panel_modes else ():
        played = sweep.transformed(channel=channel, rate=rate)
        for name, model in models.items():
            result[name]["channel"][channel] = score_modes(model, played, labels, seed, panel_modes)
    return result
