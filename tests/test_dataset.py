"""Training windows and speaker statistics depend on each clip alone, as at run time."""
from __future__ import annotations

import numpy as np

from livesense.features import FeatureConfig
from training.corpora import load_cremad, load_ravdess
from training.dataset import build_windows, speaker_stats


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
