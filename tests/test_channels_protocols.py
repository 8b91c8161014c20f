"""The channel-shift panel and the runtime protocols (cold, session, calibrated) on real clips."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("audiomentations")

from livesense.audio import read_audio  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402
from livesense.recognizer import Recognizer  # noqa: E402
from training.channels import CHANNEL_PANEL, random_channel, through_panel  # noqa: E402
from training.corpora import load_corpora  # noqa: E402
from training.streamed import (SILENCE_LABEL, HeldOut, calibration_takes, cold_labels, label_scores,  # noqa: E402
                               score_modes, session_labels)

RATE = 16000


def _active_db(audio: np.ndarray) -> float:
    return 10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-20)


@pytest.fixture(scope="module")
def clips(datasets):
    """Two TESS speakers' first clips of each emotion (3 each, 9 neutral), and their audio."""
    tess, _ = load_corpora(datasets, ["tess"])
    chosen = []
    for speaker in ("tess/OAF", "tess/YAF"):
        for emotion in ("angry", "happy", "sad", "neutral"):
            group = sorted((c for c in tess if c.speaker == speaker and c.emotion == emotion), key=lambda c: c.path)
            chosen += group[: 9 if emotion == "neutral" else 3]
    return HeldOut(chosen, [read_audio(c.path, RATE) for c in chosen])


def test_every_panel_channel_keeps_length_and_level_and_repeats_exactly(clips):
    audio, name = clips.audio[0], clips.clips[0].path.name
    for channel in CHANNEL_PANEL:
        played = through_panel(audio, RATE, channel, name)
        assert played.dtype == np.float32 and played.shape == audio.shape, channel
        assert np.all(np.abs(played) <= 1.0)
        np.testing.assert_array_equal(played, through_panel(audio, RATE, channel, name))  # seeded by the clip
        assert abs(_active_db(played) - _active_db(audio)) < 3.0, channel  # a channel, not a gain
        assert not np.array_equal(played, audio), channel
    # Randomness is per clip: another clip's room is another room.
    room = through_panel(audio, RATE, "room-rt60-0.8s", name)
    assert not np.array_equal(room, through_panel(audio, RATE, "room-rt60-0.8s", "other.wav"))


def test_reverberation_lengthens_the_decay(clips):
    """The 0.8 s room leaves more energy after the speech ends than the 0.3 s room."""
    audio = np.concatenate([clips.audio[0], np.zeros(RATE, np.float32)])
    tail = slice(len(clips.audio[0]) + RATE // 10, len(clips.audio[0]) + RATE // 2)
    short = through_panel(audio, RATE, "room-rt60-0.3s", "a")[tail]
    long = through_panel(audio, RATE, "room-rt60-0.8s", "a")[tail]
    assert _active_db(long) > _active_db(short) + 6


def test_random_channels_are_seeded_and_span_the_gain_range(clips):
    audio = clips.audio[0]
    first = [random_channel(audio, RATE, np.random.default_rng(seed)) for seed in range(40)]
    again = [random_channel(audio, RATE, np.random.default_rng(seed)) for seed in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    levels = np.array([_active_db(a) for a in first]) - _active_db(audio)
    assert levels.min() < -15 and levels.max() > 5  # gains over +-25 dB, peaks clipped by at most 6 dB
    assert all(a.shape == audio.shape and a.dtype == np.float32 for a in first)


def test_cold_mode_is_what_livesense_file_says(clips):
    model = EmotionModel("logreg")
    labels = cold_labels(model, HeldOut(clips.clips[:4], clips.audio[:4]))
    recognizer = Recognizer(model)
    assert labels == [recognizer.analyze_file(c.path).summary.verdict().label for c in clips.clips[:4]]


def test_protocol_modes_score_every_clip_and_calibrate_from_half_the_neutral_clips(clips):
    model = EmotionModel("logreg")
    labels = list(model.labels)
    result = score_modes(model, clips, labels, seed=0)
    n = len(clips.clips)
    assert result["cold"]["n"] == n and result["session"]["n"] == n
    # Half of each speaker's 9 neutral clips (5) made the profile and are not scored.
    assert result["calibration"] == {"speakers": 2, "calibrated": 2, "refused": {}}
    for mode in ("calibrated", "calibrated_adaptive", "session_on_calibrated_clips"):
        assert result[mode]["n"] == n - 2 * 5, mode
    for mode in ("cold", "session", "calibrated", "calibrated_adaptive"):
        confusion = np.array(result[mode]["confusion"])
        assert confusion.shape == (len(labels) + 1,) * 2  # "silence" is a column that is never right
        assert confusion[-1].sum() == 0
        assert 1 / len(labels) <= result[mode]["largest_share"]["share"] <= 1.0
    # The same seed gives the same session.
    assert score_modes(model, clips, labels, seed=0, modes=("session",))["session"] == result["session"]
    profiles, taken, _ = calibration_takes(model, clips, seed=0)
    assert len(taken) == 10 and all(clips.clips[i].emotion == "neutral" for i in taken)
    assert set(profiles) == {"tess/OAF", "tess/YAF"}


def test_a_profile_changes_the_session_and_adapting_it_changes_it_again(clips):
    model = EmotionModel("logreg")
    profiles, taken, _ = calibration_takes(model, clips, seed=0)
    rest = [i for i in range(len(clips.clips)) if i not in taken]
    others = HeldOut([clips.clips[i] for i in rest], [clips.audio[i] for i in rest])
    plain = session_labels(model, others, 0)
    fixed = session_labels(model, others, 0, profiles)
    adaptive = session_labels(model, others, 0, profiles, profile_adapts=True)
    assert None not in plain + fixed + adaptive
    assert plain != fixed and fixed != adaptive


def test_a_take_too_short_is_refused_and_nothing_scored_for_that_speaker(clips):
    model = EmotionModel("logreg")
    one_neutral = [i for i, c in enumerate(clips.clips) if c.speaker == "tess/OAF" and c.emotion != "neutral"]
    one_neutral.append(next(i for i, c in enumerate(clips.clips) if c.emotion == "neutral"))
    held = HeldOut([clips.clips[i] for i in one_neutral], [clips.audio[i] for i in one_neutral])
    profiles, _, info = calibration_takes(model, held, seed=0)
    assert profiles == {} and info["calibrated"] == 0 and "tess/OAF" in info["refused"]
    result = score_modes(model, held, list(model.labels), seed=0, modes=("calibrated",))
    assert result["calibrated"] is None and result["session_on_calibrated_clips"] is None


def test_largest_share_counts_silence_as_a_label(clips):
    labels = ["angry", "happy", "sad", "neutral"]
    some = clips.clips[:4]
    scored = label_scores(some, [SILENCE_LABEL, SILENCE_LABEL, SILENCE_LABEL, "angry"], labels)
    assert scored["largest_share"] == {"label": SILENCE_LABEL, "share": 0.75}
    assert scored["no_speech_share"] == 0.75
