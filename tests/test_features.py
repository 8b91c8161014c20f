"""The features module against hand-checked properties."""
from __future__ import annotations

import numpy as np
import pytest
import soxr

from livesense.audio import read_audio
from livesense.features import FeatureConfig, compute_features, window_features
from livesense.frontend import FrameCache

CONFIG = FeatureConfig()


def _speech(datasets) -> np.ndarray:
    audio = read_audio(datasets / "cremad" / "AudioWAV" / "1001_TIE_ANG_XX.flac")
    return audio[: CONFIG.window_samples]


def _three_clips(datasets) -> np.ndarray:
    """Three CREMA-D clips back to back, 16 kHz (about 8 s)."""
    clips = ["1001_TIE_ANG_XX", "1001_IEO_ANG_MD", "1002_TIE_SAD_XX"]
    return np.concatenate([read_audio(datasets / "cremad" / "AudioWAV" / f"{name}.flac") for name in clips])


@pytest.mark.parametrize("pitch, n_features", [(True, 42), (False, 40)])
def test_shape_and_dtype(datasets, pitch, n_features):
    config = FeatureConfig(pitch=pitch)
    features = compute_features(_speech(datasets), config)
    assert features.shape == (config.frames_per_window, config.n_features) == (99, n_features)
    assert features.dtype == np.float32 and np.all(np.isfinite(features))


def test_pitch_columns_follow_the_mfcc_unchanged(datasets):
    """Models without pitch (exported before it existed) get the same MFCC and deltas,
    up to float32 rounding (the longer FFT rounds differently; values reach about 90)."""
    window = _speech(datasets)
    with_pitch, without = compute_features(window, CONFIG), compute_features(window, FeatureConfig(pitch=False))
    assert np.abs(with_pitch[:, : without.shape[1]] - without).max() < 1e-4


def test_quiet_frames_are_unvoiced(datasets):
    """A harmonic tone 50 dB below the window's speech is a pause, not a voice."""
    t = np.arange(CONFIG.window_samples) / CONFIG.sample_rate
    tone = 0.3 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
    window = tone.astype(np.float32)
    window[: CONFIG.window_samples // 2] *= 10 ** (-50 / 20)
    features = compute_features(window, CONFIG)
    quiet, loud = features[:40, -2], features[-40:, -2]
    assert np.all(quiet == 0) and np.all(loud > 0.9)


def test_deterministic(datasets):
    window = _speech(datasets)
    assert np.array_equal(compute_features(window, CONFIG), compute_features(window.copy(), CONFIG))


def test_silence_is_finite_and_floored():
    features = compute_features(np.zeros(CONFIG.window_samples, np.float32), CONFIG)
    assert np.all(np.isfinite(features))
    # log of the floor in every band: c0 is the largest-magnitude coefficient, deltas are
    # zero to float32 rounding of c0 (BLAS rounds rows in groups that differ by CPU)
    c0 = np.abs(features[:, 0]).max()
    assert c0 > 10 * np.abs(features[:, 1 : CONFIG.n_mfcc]).max()
    assert np.abs(features[:, CONFIG.n_mfcc : 2 * CONFIG.n_mfcc]).max() <= 1e-5 * c0
    # no voicing; log F0 is the middle of the search range, as for any unvoiced window
    assert np.all(features[:, -2] == 0)
    assert np.allclose(features[:, -1], np.log(np.sqrt(CONFIG.pitch_min_hz * CONFIG.pitch_max_hz)))


def test_too_short_gives_no_frames():
    assert compute_features(np.zeros(100, np.float32), CONFIG).shape == (0, CONFIG.n_features)


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
    # and the same pitch where both call a frame voiced
    voiced = (other[core, -2] >= CONFIG.voicing_threshold) & (reference[core, -2] >= CONFIG.voicing_threshold)
    assert voiced.sum() > 20
    assert np.median(np.abs(other[core, -1][voiced] - reference[core, -1][voiced])) < 0.01


@pytest.mark.parametrize("f0", [65.0, 110.0, 220.0, 380.0])
def test_pitch_of_a_harmonic_tone(f0):
    """A tone with 7 harmonics (1/k amplitudes) is voiced at its fundamental, within
    one lag step (about 2% at 380 Hz), in every frame: no octave errors."""
    t = np.arange(CONFIG.window_samples) / CONFIG.sample_rate
    tone = 0.1 * sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 8))
    features = compute_features(tone.astype(np.float32), CONFIG)
    assert np.all(features[:, -2] >= CONFIG.voicing_threshold) and np.median(features[:, -2]) > 0.95
    assert np.abs(np.exp(features[:, -1]) / f0 - 1).max() < 0.025


def test_white_noise_is_unvoiced():
    noise = np.random.default_rng(0).normal(0, 0.1, CONFIG.window_samples).astype(np.float32)
    assert np.mean(compute_features(noise, CONFIG)[:, -2] >= CONFIG.voicing_threshold) < 0.05


def test_speech_pitch_is_in_a_human_range(datasets):
    """Real speech: a good share of voiced frames, their pitch within the range searched."""
    features = compute_features(_speech(datasets), CONFIG)
    voiced = features[:, -2] >= CONFIG.voicing_threshold
    assert voiced.mean() > 0.3
    f0 = np.exp(features[voiced, -1])
    assert np.all((f0 >= CONFIG.pitch_min_hz) & (f0 <= CONFIG.pitch_max_hz))
    assert 80 < np.median(f0) < 300


def test_config_round_trip():
    assert FeatureConfig.from_dict(CONFIG.to_dict()) == CONFIG
    with pytest.raises(ValueError, match="unknown"):
        FeatureConfig.from_dict({**CONFIG.to_dict(), "bogus": 1})
    # Metadata written before pitch existed describes features without it.
    old = {k: v for k, v in CONFIG.to_dict().items() if not k.startswith(("pitch", "voicing"))}
    assert FeatureConfig.from_dict(old).n_features == 2 * CONFIG.n_mfcc


@pytest.mark.parametrize("values", [{"pitch_min_hz": 20.0}, {"pitch_min_hz": 52.0}, {"pitch_max_hz": 5000.0},
                                    {"pitch_min_hz": 300.0, "pitch_max_hz": 200.0}, {"voicing_threshold": 1.5},
                                    {"voicing_threshold": 0.0}, {"voicing_range_db": -3.0}, {"pitch": "yes"}])
def test_impossible_pitch_settings_are_refused(values):
    with pytest.raises(ValueError):
        FeatureConfig(**values)


@pytest.mark.parametrize("hop_s, pitch", [(0.5, True), (0.49, True), (0.5, False)])
def test_frame_cache_gives_compute_features(datasets, hop_s, pitch):
    """The front end's FrameCache gives exactly compute_features(window) for every
    window of real speech: shared frames are reused only where their spectra do not
    depend on the window (a frame's FFT and mel energies are computed row by row).
    A hop that is not a whole number of frame hops (0.49 s) takes the full path."""
    config = FeatureConfig(hop_s=hop_s, pitch=pitch)
    audio = np.concatenate([_three_clips(datasets), np.zeros(config.window_samples, np.float32)])
    cache = FrameCache(config)
    starts = range(0, len(audio) - config.window_samples + 1, config.hop_samples)
    assert len(starts) > 10
    for i, start in enumerate(starts):
        if i % 5 == 3:
            continue  # the engine skips silence windows: the next one must still be right
        window = audio[start : start + config.window_samples]
        cache.add(window, start)
        (analysis,) = cache.analyses()
        assert np.array_equal(window_features(analysis, config), compute_features(window, config)), start


def test_features_of_several_windows_equal_each_alone(datasets):
    """The engine analyses a group of windows' new frames in one call and turns their
    analyses into features in one call: each window keeps its own floor, deltas,
    voicing gate and unvoiced log F0, exactly as alone; a window after a skipped
    one (silence, in the engine) still reuses the right frames."""
    audio = _three_clips(datasets)
    starts = [s for k, s in enumerate(range(0, len(audio) - CONFIG.window_samples + 1, CONFIG.hop_samples))
              if k not in (2, 5, 6)]
    cache = FrameCache(CONFIG)
    windows = [audio[s : s + CONFIG.window_samples] for s in starts]
    for window, start in zip(windows, starts):
        cache.add(window, start)
    analyses = np.stack(cache.analyses())
    assert cache.analyses() == []
    analyses[-1, :, : CONFIG.n_mels] *= 1e-4  # a quieter window: its floor must not come from the others
    together = window_features(analyses, CONFIG)
    assert together.shape == (len(windows), CONFIG.frames_per_window, CONFIG.n_features)
    for k, analysis in enumerate(analyses):
        assert np.array_equal(together[k], window_features(analysis, CONFIG)), k
    for k in range(len(windows) - 1):
        assert np.array_equal(together[k], compute_features(windows[k], CONFIG)), k
