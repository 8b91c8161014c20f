"""Speaker normalisation: the runtime feeds the model exactly what training computes
for the same audio and the same speaker statistics."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="training extra not installed (pip install -e .[train])")

from livesense.audio import read_audio  # noqa: E402
from livesense.engine import StreamEngine  # noqa: E402
from livesense.features import compute_features  # noqa: E402
from livesense.model import EmotionModel  # noqa: E402
from livesense.normalization import load_profile, save_profile  # noqa: E402
from training.corpora import load_cremad  # noqa: E402
from training.dataset import ClipWindows, speaker_stats  # noqa: E402
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
    engine = StreamEngine(model, profile)
    seen = []
    predict = model.predict
    engine.model = type("Recording", (), {"predict": lambda _, x: seen.append(x) or predict(x)})()
    results = engine.feed(audio) + engine.finish()
    speech = [r for r in results if r.is_speech]
    assert speech, "the clip has speech windows"

    starts = [round(r.start_s * config.sample_rate) for r in speech]
    windows = np.stack([compute_features(audio[s : s + config.window_samples], config) for s in starts])
    expected, _, _ = window_arrays([ClipWindows(clip, [windows], [np.ones(windows.shape[:2], bool)])], {clip.speaker: model.info.speaker_stats(profile)},
                                   model.labels)
    assert np.array_equal(np.concatenate(seen), expected)
