"""The features module against hand-checked properties."""
from __future__ import annotations

import numpy as np
import pytest
import soxr

from livesense.audio import read_audio
from livesense.features import FeatureConfig, SlidingFeatures, cepstra, compute_features

CONFIG = FeatureConfig()


def _speech(datasets) -> np.ndarray:
    audio = read_audio(datasets / "cremad" / "AudioWAV" / "1001_TIE_ANG_XX.flac")
    return audio[: CONFIG.window_samples]


def test_shape_and_dtype(datasets):
    features = compute_features(_speech(datasets), CONFIG)
    assert features.shape == (CONFIG.frames_per_window, CONFIG.n_features) == (99, 40)
    assert features.dtype == np.float32 and np.all(np.isfinite(features))


def test_deterministic(datasets):
    window = _speech(datasets)
    assert np.array_equal(compute_features(window, CONFIG), compute_features(window.copy(), CONFIG))


def test_silence_is_finite_and_floored():
    features = compute_features(np.zeros(CONFIG.window_samples, np.float32), CONFIG)
    assert np.all(np.isfinite(features))
    # log of the floor in every band: c0 is the largest-magnitude coefficient, deltas are zero
    assert np.allclose(features[:, CONFIG.n_mfcc:], 0)


def test_too_short_gives_no_frames():
    assert compute_features(np.zeros(100, np.float32), CONFIG).shape == (0, 40)


@pytest.mark.parametrize("rate", [48000, 24414])
def test_other_rates_give_the_same_frames(datasets, tmp_path, rate):
    """A 16 kHz signal stored at another rate reads back (via the resampler) to the same features."""
    import soundfile as sf

    window = _speech(datasets)
    path = tmp_path / f"x{rate}.wav"
    sf.write(path, soxr.resample(window, 16000, rate), rate, subtype="FLOAT")
    back = read_audio(path)[: CONFIG.window_samples]
    reference = compute_features(window, CONFIG)
    other = compute_features(np.pad(back, (0, CONFIG.window_samples - len(back))), CONFIG)
    # Compare the MFCCs of frames away from the edges (resampler filter transients).
    core = slice(2, -2)
    error = np.abs(other[core, : CONFIG.n_mfcc] - reference[core, : CONFIG.n_mfcc])
    assert np.median(error) < 0.05 and error.max() < 0.5


def test_config_round_trip():
    assert FeatureConfig.from_dict(CONFIG.to_dict()) == CONFIG
    with pytest.raises(ValueError, match="unknown"):
        FeatureConfig.from_dict({**CONFIG.to_dict(), "bogus": 1})


@pytest.mark.parametrize("hop_s", [0.5, 0.49])
def test_sliding_features_equal_compute_features(datasets, hop_s):
    """The engine's SlidingFeatures gives exactly compute_features(window) for every
    window of real speech: shared frames are reused only where their spectra do not
    depend on the window (a frame's FFT and mel energies are computed row by row).
    A hop that is not a whole number of frame hops (0.49 s) takes the full path."""
    config = FeatureConfig(hop_s=hop_s)
    clips = ["1001_TIE_ANG_XX", "1001_IEO_ANG_MD", "1002_TIE_SAD_XX"]
    audio = np.concatenate([read_audio(datasets / "cremad" / "AudioWAV" / f"{name}.flac") for name in clips]
                           + [np.zeros(config.window_samples, np.float32)])
    sliding = SlidingFeatures(config)
    starts = range(0, len(audio) - config.window_samples + 1, config.hop_samples)
    assert len(starts) > 10
    for i, start in enumerate(starts):
        if i % 5 == 3:
            continue  # the engine skips silence windows: the next one must still be right
        window = audio[start : start + config.window_samples]
        assert np.array_equal(sliding(window, start), compute_features(window, config)), start


def test_cepstra_of_several_windows_equal_each_alone(datasets):
    """The engine turns a group of windows' mel energies into features in one call:
    each window keeps its own floor and deltas, exactly as alone."""
    audio = read_audio(datasets / "cremad" / "AudioWAV" / "1001_IEO_ANG_MD.flac")
    starts = range(0, len(audio) - CONFIG.window_samples + 1, CONFIG.hop_samples)
    sliding = SlidingFeatures(CONFIG)
    windows = [audio[s : s + CONFIG.window_samples] for s in starts]
    mels = np.stack([sliding.mel_energies(w, s) for w, s in zip(windows, starts)])
    mels[-1] *= 1e-4  # a quieter window: its floor must not come from the others
    together = cepstra(mels, CONFIG)
    assert together.shape == (len(windows), CONFIG.frames_per_window, CONFIG.n_features)
    for k, mel in enumerate(mels):
        assert np.array_equal(together[k], cepstra(mel, CONFIG)), k
    assert np.array_equal(together[0], compute_features(windows[0], CONFIG))
