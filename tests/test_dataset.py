"""Training windows and speaker statistics depend on each clip alone, as at run time."""
from __future__ import annotations

import numpy as np

from livesense.audio import read_audio
from livesense.engine import StreamEngine
from livesense.features import FeatureConfig, compute_features
from training.corpora import load_cremad, load_ravdess, load_tess
from training.dataset import build_windows, clip_windows, speaker_stats


def _clips(datasets):
    clips, _ = load_ravdess(datasets / "ravdess")
    more, _ = load_cremad(datasets / "cremad")
    return sorted(clips, key=lambda c: c.path)[:6] + sorted(more, key=lambda c: c.path)[:6]


def test_windows_do_not_depend_on_the_clips_before(datasets, tmp_path):
    # The runtime starts a fresh voice detector per stream; training must too, or
    # a clip's speech span would depend on which clips were cut before it.
    clips = _clips(datasets)
    config = FeatureConfig()
    forward = build_windows(clips, config, tmp_path / "a")
    backward = build_windows(clips[::-1], config, tmp_path / "b")[::-1]
    for one, other in zip(forward, backward):
        assert one.clip == other.clip
        for a, b in zip(one.windows, other.windows):
            np.testing.assert_array_equal(a, b)


def test_speaker_stats_do_not_depend_on_other_speakers(datasets, tmp_path):
    clips = _clips(datasets)
    config = FeatureConfig()
    everyone = speaker_stats(clips, config, tmp_path / "a", None)
    last = clips[-1].speaker
    alone = speaker_stats([c for c in clips if c.speaker == last], config, tmp_path / "b", None)
    np.testing.assert_array_equal(everyone[last].mean, alone[last].mean)
    np.testing.assert_array_equal(everyone[last].std, alone[last].std)


def test_training_windows_are_the_windows_the_engine_classifies(datasets, tiny_model):
    """What is trained is what runs: a clip's training windows are the features of
    exactly the windows `livesense file` classifies, on the grid from the clip's
    start, a clip shorter than a window padded at its end."""
    config = tiny_model.features
    tess, _ = load_tess(datasets / "tess")
    short = [c for c in sorted(tess, key=lambda c: c.path)[:40]
             if len(read_audio(c.path)) < config.window_samples][:2]
    assert short, "TESS has clips shorter than a window"
    for clip in _clips(datasets)[::3] + short:
        audio = read_audio(clip.path)
        engine = StreamEngine(tiny_model)
        speech = [r for r in engine.feed(audio) + engine.finish() if r.is_speech]
        padded = np.concatenate([audio, np.zeros(config.window_samples, np.float32)])
        expected = [compute_features(padded[s : s + config.window_samples], config)
                    for s in (round(r.start_s * config.sample_rate) for r in speech)]
        windows, speech_masks = clip_windows(audio, config)
        np.testing.assert_array_equal(windows, np.stack(expected))
        assert speech_masks.shape == windows.shape[:2] and speech_masks.any(axis=1).all()
