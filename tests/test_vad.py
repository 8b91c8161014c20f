"""Speech detection follows the voice, not the level: quiet speech is heard, steady noise is not."""
from __future__ import annotations

import numpy as np
import pytest

from livesense.audio import read_audio
from livesense.features import FeatureConfig
from livesense.frontend import recording_windows
from livesense.vad import speech_mask

from bench.levels import at_level, noises

from .runtime_support import bundled_recording, cremad

SR = 16000
CONFIG = FeatureConfig()
CLIPS = ["1001_IEO_ANG_MD", "1015_TSI_HAP_XX", "1030_ITH_NEU_XX", "1042_DFA_SAD_XX", "1030_IOM_FEA_XX",
         "1015_ITH_DIS_XX"]


def speech_windows(audio: np.ndarray) -> int:
    return sum(w.is_speech for w in recording_windows(audio, CONFIG))


def test_quiet_speech_is_heard_as_well_as_normal_speech(datasets):
    clips = [read_audio(cremad(name)) for name in CLIPS]
    at = {level: sum(speech_windows(at_level(clip, level)) for clip in clips) for level in (-50, -30, -10)}
    assert at[-30] >= len(clips)
    assert at[-50] >= 0.95 * at[-30] and at[-10] >= 0.95 * at[-30], at


def test_a_gain_leaves_the_speech_frames_as_they_were():
    """The VAD's input is levelled down as well as up: three bundled clips with
    pauses (loudest 30 ms frame -13 dBFS) and the same 3 to 12 dB quieter are
    judged alike, frame for frame, and 18 to 24 dB quieter all but the few quiet
    frames before speech, which the levelling raises by at most 30 dB. (Before, a
    loud recording was left as it was and a quieter one raised: 36 of its 329
    frames changed at -3 dB.)"""
    audio = bundled_recording()
    reference = speech_mask(audio)
    for gain_db in (-3, -6, -12, -18, -24):
        differ = np.count_nonzero(speech_mask(audio * np.float32(10 ** (gain_db / 20))) != reference)
        assert differ <= (0 if gain_db >= -12 else 0.05 * len(reference)), (gain_db, differ)


@pytest.mark.parametrize("name", ["white", "pink", "hum", "square"])
def test_steady_noise_is_not_speech(name):
    noise = noises()[name]
    for level in (-50, -30, -10, -3):
        windows = recording_windows(np.clip(noise * 10 ** (level / 20), -1, 1).astype(np.float32), CONFIG)
        assert np.mean([w.is_speech for w in windows]) <= 0.05, (name, level)


def test_calibrate_refuses_a_square_wave(tmp_path, tiny_model_path):
    """A buzzer is voiced but holds its pitch still: no window of it is a voice, so no profile."""
    import soundfile as sf

    from livesense.cli import EXIT_INPUT, main

    buzz = tmp_path / "buzz.wav"
    sf.write(str(buzz), (0.3 * noises()["square"]).astype(np.float32), SR)
    assert main(["calibrate", "--file", str(buzz), "--model", str(tiny_model_path),
                 "-o", str(tmp_path / "p.json")]) == EXIT_INPUT
    assert not (tmp_path / "p.json").exists()
