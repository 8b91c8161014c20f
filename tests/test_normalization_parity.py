"""Speaker normalisation: the runtime feeds the model exactly what training computes
for the same audio and the same speaker statistics."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training extra not installed (pip install -e .[train])")

from livesense.audio import read_audio  # noqa: E402
from livesense.engine import StreamEngine  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402
from livesense.normalization import RunningStats, load_profile, normalize_running, save_profile  # noqa: E402
from training.corpora import load_cremad  # noqa: E402
from training.dataset import ClipWindows, clip_windows, speaker_stats  # noqa: E402
from training.fit import window_arrays  # noqa: E402



def test_engine_inputs_equal_training_windows(datasets, tmp_path, shipped_model_name):
    model = EmotionModel(shipped_model_name)
    config = model.features
    clips, _ = load_cremad(datasets / "cremad")
    speaker = [c for c in clips if c.speaker == "cremad/1011"]
    # The speaker's neutral statistics as training computes them, saved and
    # loaded as a calibration profile.
    neutral = speaker_stats(speaker, config, tmp_path, ("neutral",))["cremad/1011"]
    save_profile(tmp_path / "profile.json", neutral, config, speech_seconds=5.0)
    profile = load_profile(tmp_path / "profile.json", config)

    clip = next(c for c in speaker if c.emotion == "angry")
    audio = read_audio(clip.path)
    windows, speech_frames = clip_windows(audio, config)  # what training cuts from the clip
    stats = model.info.speaker_stats(profile)
    for adapts in (False, True):
        engine = StreamEngine(model, profile, profile_adapts=adapts)
        seen = []
        predict = model.predict
        engine.model = type("Recording", (), {"predict": lambda _, x: seen.append(x) or predict(x)})()
        assert any(r.is_speech for r in engine.feed(audio) + engine.finish()), "the clip has speech windows"
        if adapts:  # the profile seeds running statistics, counted as the frames it was made of
            expected = normalize_running(RunningStats(stats, prior_frames=profile.n_frames), windows, speech_frames)
        else:
            expected, _, _ = window_arrays([ClipWindows(clip, [windows], [speech_frames])], {clip.speaker: stats},
                                           model.labels)
        assert np.array_equal(np.concatenate(seen), expected), adapts
