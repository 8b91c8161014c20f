"""The streaming engine: chunking invariance, windows, silence, padding, invariants."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livesense.audio import read_audio
from livesense.engine import SILENCE, StreamEngine
from livesense.features import FeatureConfig
from livesense.normalization import FeatureStats
from livesense.vad import speech_mask

from .runtime_support import SAMPLES

SR = 16000


@pytest.fixture(scope="module")
def speech_with_pause():
    """Two real clips with 3 s of digital silence between them (about 10 s)."""
    a = read_audio(SAMPLES / "1058_IWL_ANG_XX.flac")
    b = read_audio(SAMPLES / "1058_TAI_SAD_XX.flac")
    return np.concatenate([a, np.zeros(3 * SR, np.float32), b])


def run(engine: StreamEngine, audio: np.ndarray, sizes) -> list:
    results, pos, i = [], 0, 0
    while pos < len(audio):
        n = sizes[i % len(sizes)]
        results += engine.feed(audio[pos : pos + n])
        pos, i = pos + n, i + 1
    return results + engine.finish()


def test_chunked_and_whole_feeding_give_identical_windows(tiny_model, speech_with_pause):
    whole = run(StreamEngine(tiny_model), speech_with_pause, [len(speech_with_pause)])
    for sizes in ([1600], [480], [7, 5000, 131, 16001], [SR * 3]):
        assert run(StreamEngine(tiny_model), speech_with_pause, sizes) == whole
    assert len(whole) > 10


def test_batched_classification_is_independent_of_chunking(tiny_model, speech_with_pause):
    """Groups of speech windows per ONNX call are fixed by the window sequence,
    so the chunking still changes nothing, and the windows come out in order."""
    whole = run(StreamEngine(tiny_model, batch=4), speech_with_pause, [len(speech_with_pause)])
    for sizes in ([1600], [7, 5000, 131, 16001]):
        assert run(StreamEngine(tiny_model, batch=4), speech_with_pause, sizes) == whole
    assert [r.index for r in whole] == list(range(len(whole)))


def test_batched_and_single_calls_agree(tiny_model, speech_with_pause):
    """Same windows, labels and smoothing; probabilities may differ only by the
    rounding of a batched ONNX call (float32, so within 1e-6)."""
    single = run(StreamEngine(tiny_model), speech_with_pause, [SR])
    batched = run(StreamEngine(tiny_model, batch=8), speech_with_pause, [SR])
    assert [(r.start_s, r.is_speech, r.label, r.raw_label) for r in batched] == \
           [(r.start_s, r.is_speech, r.label, r.raw_label) for r in single]
    for a, b in zip(batched, single):
        if a.is_speech:
            assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), rtol=0, atol=1e-6)
            assert np.allclose(list(a.raw_probabilities.values()), list(b.raw_probabilities.values()), rtol=0, atol=1e-6)


def test_batched_windows_wait_for_their_group(tiny_model, speech_with_pause):
    engine = StreamEngine(tiny_model, batch=1000)
    assert engine.feed(speech_with_pause) == []  # fewer than 1000 speech windows: all wait
    assert len(engine.finish()) == len(run(StreamEngine(tiny_model), speech_with_pause, [SR]))

def test_windows_start_at_zero_and_step_by_hop(tiny_model, speech_with_pause):
    cfg = tiny_model.features
    results = run(StreamEngine(tiny_model), speech_with_pause, [4000])
    expected = 1 + (len(speech_with_pause) - cfg.window_samples) // cfg.hop_samples
    assert len(results) == expected
    for i, r in enumerate(results):
        assert r.index == i
        assert r.start_s == pytest.approx(i * cfg.hop_s)
        assert r.end_s == pytest.approx(i * cfg.hop_s + cfg.window_s)


def test_silence_is_reported_and_not_classified(tiny_model, speech_with_pause):
    results = run(StreamEngine(tiny_model), speech_with_pause, [SR])
    silent = [r for r in results if not r.is_speech]
    speech = [r for r in results if r.is_speech]
    assert silent and speech
    # The windows wholly inside the 3 s gap are silence.
    gap_start = len(read_audio(SAMPLES / "1058_IWL_ANG_XX.flac")) / SR
    inside = [r for r in results if r.start_s >= gap_start and r.end_s <= gap_start + 3]
    assert inside and all(r.label == SILENCE and r.probabilities is None for r in inside)
    for r in speech:
        assert r.label in tiny_model.labels and r.raw_label in tiny_model.labels
        assert math.isclose(sum(r.probabilities.values()), 1, abs_tol=1e-4)
        assert math.isclose(sum(r.raw_probabilities.values()), 1, abs_tol=1e-4)
        assert r.confidence == max(r.probabilities.values())


def test_smoothing_keeps_raw_probabilities(tiny_model, speech_with_pause):
    smoothed = [r for r in run(StreamEngine(tiny_model, smoothing=0.3), speech_with_pause, [SR]) if r.is_speech]
    raw = [r for r in run(StreamEngine(tiny_model, smoothing=1.0), speech_with_pause, [SR]) if r.is_speech]
    assert [r.raw_probabilities for r in smoothed] == [r.raw_probabilities for r in raw]
    assert [r.probabilities for r in raw] == [r.raw_probabilities for r in raw]
    assert [r.probabilities for r in smoothed] != [r.raw_probabilities for r in smoothed]


def test_short_stream_is_padded_to_one_window(tiny_model):
    clip = read_audio(SAMPLES / "1058_IWW_NEU_XX.flac")[: int(1.2 * SR)]
    results = run(StreamEngine(tiny_model), clip, [1000])
    assert len(results) == 1
    assert results[0].start_s == 0 and results[0].end_s == pytest.approx(1.2)
    assert results[0].is_speech


def test_empty_stream_gives_no_windows(tiny_model):
    engine = StreamEngine(tiny_model)
    assert engine.feed(np.zeros(0, np.float32)) == [] and engine.finish() == []


def test_profile_replaces_running_statistics(tiny_model, speech_with_pause):
    n = tiny_model.features.n_features
    profile = FeatureStats(np.full(n, 5.0), np.ones(n), 100)
    with_profile = run(StreamEngine(tiny_model, profile), speech_with_pause, [SR])
    without = run(StreamEngine(tiny_model), speech_with_pause, [SR])
    assert [r.is_speech for r in with_profile] == [r.is_speech for r in without]
    assert [r.raw_probabilities for r in with_profile] != [r.raw_probabilities for r in without]


@pytest.mark.parametrize("batch", [1, 3])
def test_a_failed_model_call_loses_only_its_own_windows(tiny_model, speech_with_pause, monkeypatch, batch):
    """Should ONNX Runtime fail on one group of windows, feed raises; the windows
    after that group come out as from an engine that never failed (with a profile,
    a window's raw probabilities depend on its own audio alone), and finish works."""
    n = tiny_model.features.n_features
    profile = FeatureStats(np.zeros(n), np.ones(n), 100)
    expected = run(StreamEngine(tiny_model, profile, batch=batch), speech_with_pause, [1600])
    engine = StreamEngine(tiny_model, profile, batch=batch)
    predict, calls = tiny_model.predict, []

    def fails_on_the_second_call(x):
        calls.append(len(x))
        if len(calls) == 2:
            raise RuntimeError("ONNX Runtime failed")
        return predict(x)

    monkeypatch.setattr(tiny_model, "predict", fails_on_the_second_call)
    results, failures = [], 0
    for pos in range(0, len(speech_with_pause), 1600):
        try:
            results += engine.feed(speech_with_pause[pos : pos + 1600])
        except RuntimeError:
            failures += 1
    results += engine.finish()
    assert failures == 1 and len(calls) > 3
    lost = {r.index for r in expected} - {r.index for r in results}
    # the failed call's speech windows (and any silence windows that waited with them)
    assert len([r for r in expected if r.index in lost and r.is_speech]) == calls[1]
    after = [r for r in expected if r.index > max(lost)]
    assert after and [r.raw_probabilities for r in results[-len(after):]] == [r.raw_probabilities for r in after]


def test_memory_is_bounded(tiny_model, speech_with_pause):
    """Nothing the engine keeps grows with the stream: after a minute of noise and
    a minute of speech, it holds no more VAD verdicts than a window and a hop
    span, and no window or frame waits (batch 1)."""
    engine = StreamEngine(tiny_model)
    noise = np.random.default_rng(0).normal(0, 0.1, 60 * SR).astype(np.float32)
    engine.feed(noise)
    for _ in range(6):
        engine.feed(speech_with_pause)
    cfg, front_end = tiny_model.features, engine._front_end
    assert len(front_end._vad_mask) <= (cfg.window_samples + cfg.hop_samples) // 480 + 1
    assert front_end._pending == [] and front_end._frames._queue == []


def test_rejects_bad_chunks(tiny_model):
    engine = StreamEngine(tiny_model)
    with pytest.raises(ValueError):
        engine.feed(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError):
        engine.feed(np.array([0.0, np.nan], np.float32))


@st.composite
def audio_and_chunks(draw):
    seconds = draw(st.floats(0.0, 4.0))
    n = int(seconds * SR)
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["noise", "speech", "silence", "loud"]))
    rng = np.random.default_rng(seed)
    if kind == "speech":
        clip = read_audio(SAMPLES / "1058_IEO_HAP_MD.flac")
        audio = np.resize(clip, n)
    elif kind == "silence":
        audio = np.zeros(n, np.float32)
    else:
        audio = np.clip(rng.normal(0, 0.7 if kind == "loud" else 0.05, n), -1, 1)
    sizes = draw(st.lists(st.integers(1, 3 * SR), min_size=1, max_size=8))
    return audio.astype(np.float32), sizes


# derandomize: the same 25 cases on every run, so CI cannot turn red on a new draw
# that a developer never saw (a failure found by a random run stays reproducible).
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(audio_and_chunks())
def test_engine_invariants_for_random_audio_and_chunks(tiny_model, case):
    audio, sizes = case
    cfg = tiny_model.features
    results = run(StreamEngine(tiny_model), audio, sizes)
    if len(audio) == 0:
        expected = 0
    elif len(audio) < cfg.window_samples:
        expected = 1
    else:
        expected = 1 + (len(audio) - cfg.window_samples) // cfg.hop_samples
    assert len(results) == expected
    starts = [r.start_s for r in results]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    ends = [r.end_s for r in results]
    assert ends == sorted(ends) and all(r.end_s > r.start_s for r in results)
    assert [r.index for r in results] == list(range(len(results)))
    # Full windows, except one padded window for a stream shorter than a window.
    for r in results:
        assert r.end_s - r.start_s == pytest.approx(min(cfg.window_s, len(audio) / SR))
    # However the audio was cut into chunks, the results are those of feeding it whole.
    assert results == run(StreamEngine(tiny_model), audio, [max(1, len(audio))])
    # Speech share and level recomputed from the audio alone, by another path:
    # VAD of the whole stream at once, and the RMS of each window's real samples.
    mask = speech_mask(audio)
    for r in results:
        start, end = round(r.start_s * SR), round(r.end_s * SR)
        verdicts = mask[-(-start // 480) : end // 480]
        assert r.speech_fraction == (verdicts.mean() if len(verdicts) else 0.0)
        rms = float(np.sqrt(np.mean(audio[start:end].astype(np.float64) ** 2)))
        assert r.level_dbfs == pytest.approx(max(20 * math.log10(rms), -100.0) if rms > 0 else -100.0, abs=1e-3)
        assert r.speech_fraction >= 0.3 or not r.is_speech  # (a window without a voice is silence too)
    # The smoothed readout is the EMA of the raw probabilities (restarting after
    # 5 s of silence), and each label is the argmax of what it names.
    smoothed, silence = None, 0.0
    for r in results:
        if not r.is_speech:
            assert r.label == SILENCE and r.probabilities is None and r.raw_probabilities is None
            silence += cfg.hop_s
            continue
        raw = np.array([r.raw_probabilities[k] for k in tiny_model.labels])
        smoothed = raw if smoothed is None or silence >= 5.0 else 0.4 * raw + 0.6 * smoothed
        silence = 0.0
        assert np.allclose([r.probabilities[k] for k in tiny_model.labels], smoothed, atol=1e-9)
        assert r.label == tiny_model.labels[int(np.argmax(smoothed))] and r.confidence == max(r.probabilities.values())
        assert r.raw_label == max(r.raw_probabilities, key=r.raw_probabilities.get)


def test_a_level_term_without_prior_makes_a_fresh_stream_blind_to_gain(speech_with_pause):
    """With no prior for the level term (what trained models record), the
    normalised level of a stream 20 dB quieter is that of the original from its
    first window; weighted like every other term, it moves by a standard
    deviation or more."""
    from livesense.frontend import recording_windows
    from livesense.normalization import RunningStats, normalize_running

    from livesense.model import EmotionModel

    config = FeatureConfig()
    prior = EmotionModel("logreg").info.global_stats  # the corpora's voice, as a shipped model starts from

    def normalised(audio, level_prior):
        speech = [w for w in recording_windows(audio, config) if w.is_speech]
        return normalize_running(RunningStats(prior, level_prior_frames=level_prior),
                                 np.stack([w.features for w in speech]), np.stack([w.speech_frames for w in speech]))

    quiet = speech_with_pause * np.float32(0.1)
    # What is left with no prior comes from the VAD, which at another level may
    # count a few edge frames (5 of 99 here) differently as speech.
    for level_prior, low, high in ((0, 0.0, 0.25), (None, 1.0, np.inf)):
        loud, soft = normalised(speech_with_pause, level_prior), normalised(quiet, level_prior)
        assert loud.shape == soft.shape  # the same speech is heard at both levels
        first_window_c0 = np.abs(loud[0, :, 0] - soft[0, :, 0]).max()
        assert low <= first_window_c0 < high, (level_prior, first_window_c0)
        # The other terms do not move with gain in either case (up to the VAD's speech frames).
        assert np.abs(loud[:, :, 1:] - soft[:, :, 1:]).max() < 0.25
