"""The GE2E voice encoder and the voice head (livesense.voice) on real speech."""
from __future__ import annotations

import json

import numpy as np
import pytest

from livesense.audio import read_audio
from livesense.engine import StreamEngine
from livesense.model import EmotionModel, ModelError
from livesense.voice import (ENCODER_LEVEL_DBFS, EMBEDDING_SIZE, VOICE_FEATURES, RunningVoice, VoiceClassifier,
                             VoiceEncoder, VoiceHead, audio_frames)

from .runtime_support import LABELS, SAMPLES, bundled_recording, build_tiny_model


@pytest.fixture(scope="module")
def encoder():
    return VoiceEncoder()


def _windows(name: str, count: int = 3) -> list[np.ndarray]:
    audio = read_audio(SAMPLES / f"{name}.flac")
    return [audio[i * 8000 : i * 8000 + 32000] for i in range(count)]


def _head(seed: int = 0, model_weight: float = 0.5) -> VoiceHead:
    """A head of two classifiers as training makes (the embedding; the states, standardised)."""
    rng = np.random.default_rng(seed)
    share = (1.0 - model_weight) / 2
    classifiers = [VoiceClassifier(start, stop, rng.normal(0, 5, (len(LABELS), stop - start)),
                                   rng.normal(0, 1, len(LABELS)), scale, share, rng.normal(0, 1, len(LABELS)))
                   for start, stop, scale in ((0, EMBEDDING_SIZE, np.ones(EMBEDDING_SIZE)),
                                              (EMBEDDING_SIZE, VOICE_FEATURES, rng.uniform(0.02, 0.2, 512)))]
    return VoiceHead(np.abs(rng.normal(0, 0.06, VOICE_FEATURES)), 4, [c for c in classifiers if c.weight > 0])


def test_audio_frames_are_centred_every_10_ms():
    audio = np.arange(32000, dtype=np.float32)
    frames = audio_frames(audio)
    assert frames.shape == (201, 400)
    assert np.all(frames[0, :200] == 0) and frames[0, 200] == 0.0 and frames[0, 201] == 1.0
    assert frames[10, 200] == 1600.0  # frame t is centred on sample 160 t


def test_voice_features_are_a_unit_embedding_and_states_that_ignore_the_gain(encoder):
    windows = _windows("1058_IWL_ANG_XX")
    loud = encoder.describe(windows)
    quiet = encoder.describe([w * np.float32(10 ** (-30 / 20)) for w in windows])
    assert loud.shape == (3, VOICE_FEATURES)
    np.testing.assert_allclose(np.linalg.norm(loud[:, :EMBEDDING_SIZE], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(loud, quiet, atol=1e-4)  # each window is set to -30 dBFS first
    deviations = loud[:, EMBEDDING_SIZE + 256 :]
    assert np.all(deviations >= 0) and np.all(deviations.max(axis=1) > 0.01)  # the states move over 2 s of speech
    assert ENCODER_LEVEL_DBFS == -30.0


def test_one_voice_is_closer_to_itself_than_to_another(encoder, datasets):
    """RAVDESS actors 1 (male) and 2 (female), neutral, the same sentence: each
    actor's two takes are closer to each other than to the other actor's."""
    def first_2_s(actor: int, take: int) -> np.ndarray:
        audio = read_audio(datasets / "ravdess" / f"Actor_{actor:02d}" / f"03-01-01-01-01-{take:02d}-{actor:02d}.flac")
        return audio[8000:40000]

    one = encoder.describe([first_2_s(1, 1), first_2_s(1, 2)])[:, :EMBEDDING_SIZE]
    two = encoder.describe([first_2_s(2, 1), first_2_s(2, 2)])[:, :EMBEDDING_SIZE]
    assert float(one[0] @ one[1]) > max(float(one[i] @ two[j]) for i in range(2) for j in range(2))
    assert float(two[0] @ two[1]) > max(float(one[i] @ two[j]) for i in range(2) for j in range(2))


def test_running_voice_centres_on_the_mean_so_far_whatever_the_grouping():
    head = _head()
    embeddings = np.random.default_rng(1).random((5, VOICE_FEATURES))
    whole, prior_share = RunningVoice(head.mean, head.prior_windows).centre(embeddings)
    split = RunningVoice(head.mean, head.prior_windows)
    parts = [split.centre(embeddings[:2]), split.centre(embeddings[2:])]
    np.testing.assert_allclose(whole, np.concatenate([centred for centred, _ in parts]))
    np.testing.assert_allclose(prior_share, np.concatenate([share for _, share in parts]))
    expected = embeddings[2] - (head.mean * 4 + embeddings[:3].sum(0)) / 7
    np.testing.assert_allclose(whole[2], expected)
    np.testing.assert_allclose(prior_share, 4 / np.array([5, 6, 7, 8, 9]))  # the training mean's share


def test_the_cold_shift_fades_as_the_stream_hears_the_voice():
    """A classifier that knows nothing of the voice says what its cold shift says, less
    and less as the running mean fills with the stream's own windows."""
    classifier = _head().classifiers[0]
    classifier.weights[:], classifier.bias[:] = 0.0, 0.0
    classifier.cold_shift = np.log([4.0, 1, 1, 1, 1, 1])  # angry 4 times as likely as each other label
    features = np.random.default_rng(3).random((60, VOICE_FEATURES))
    centred, prior_share = RunningVoice(np.zeros(VOICE_FEATURES), 4).centre(features)
    angry = classifier.probabilities(centred, prior_share)[:, 0]
    assert angry[0] == pytest.approx(4 ** 0.8 / (4 ** 0.8 + 5))  # first window: 4 of 5 windows are the prior
    assert np.all(np.diff(angry) < 0) and angry[-1] < 0.2  # 1/6 once the stream's own windows dominate


def test_the_head_mixes_in_the_log_domain():
    model = np.array([[0.7, 0.1, 0.1, 0.05, 0.05, 0.0]])
    head = _head()
    centred, prior_share = np.random.default_rng(2).normal(0, 0.05, (1, VOICE_FEATURES)), np.array([0.5])
    mixed = head.mix(model, centred, prior_share)
    assert mixed.sum() == pytest.approx(1.0) and abs(head.model_weight - 0.5) < 1e-12
    first, second = (c.probabilities(centred, prior_share) for c in head.classifiers)
    expected = ((model + 1e-6) ** 0.5) * ((first + 1e-6) ** 0.25) * ((second + 1e-6) ** 0.25)
    np.testing.assert_allclose(mixed, expected / expected.sum())
    # the states' classifier reads its own columns, divided by its scale
    states = head.classifiers[1]
    logits = (centred[:, 256:] / states.scale) @ states.weights.T + states.bias + 0.5 * states.cold_shift
    np.testing.assert_allclose(second, np.exp(logits) / np.exp(logits).sum())


def _with_head(tmp_path, head: VoiceHead | None, name="tiny") -> EmotionModel:
    return EmotionModel(build_tiny_model(tmp_path / f"{name}.onnx", voice_head=head))


def test_a_head_round_trips_through_the_metadata_and_a_wrong_one_is_refused(tmp_path):
    head = _head()
    model = _with_head(tmp_path, head)
    loaded = model.info.voice_head
    for ours, theirs in zip(loaded.classifiers, head.classifiers):
        assert (ours.start, ours.stop, ours.weight) == (theirs.start, theirs.stop, theirs.weight)
        np.testing.assert_allclose(ours.weights, theirs.weights, atol=1e-6)
        np.testing.assert_allclose(ours.scale, theirs.scale, atol=1e-6)
        np.testing.assert_allclose(ours.cold_shift, theirs.cold_shift, atol=1e-6)
    assert loaded.prior_windows == 4 and abs(loaded.model_weight - 0.5) < 1e-12
    import onnx

    def broken(change) -> str:
        values = head.to_dict()
        change(values)
        proto = onnx.load(str(model.path))
        metadata = json.loads(proto.metadata_props[0].value)
        metadata["voice_head"] = values
        proto.metadata_props[0].value = json.dumps(metadata)
        onnx.save(proto, str(tmp_path / "broken.onnx"))
        with pytest.raises(ModelError) as err:
            EmotionModel(tmp_path / "broken.onnx")
        return str(err.value)

    assert "voice classifier is not 6 x" in broken(lambda v: v["classifiers"][0].update(weights=v["classifiers"][0]["weights"][:3]))
    assert "positive scales" in broken(lambda v: v["classifiers"][1]["scale"].__setitem__(0, 0.0))
    assert "weights above 1" in broken(lambda v: v["classifiers"][0].update(weight=0.9))
    assert "voice classifier is not 6 x" in broken(lambda v: v["classifiers"][1].update(cold_shift=[0.0] * 5))
    assert "older livesense" in broken(lambda v: v.pop("classifiers"))  # session 13's format
    assert "older livesense" in broken(lambda v: v["classifiers"][0].pop("cold_shift"))  # session 14's


def test_the_engine_mixes_the_head_in_and_chunking_changes_nothing(tmp_path):
    recording = bundled_recording()
    plain = _with_head(tmp_path, None, "plain")
    voiced = _with_head(tmp_path, _head(), "voiced")
    knows_nothing = _head()
    for classifier in knows_nothing.classifiers:  # uniform probabilities whatever the voice
        classifier.weights[:], classifier.bias[:], classifier.cold_shift[:] = 0.0, 0.0, 0.0
    indifferent = _with_head(tmp_path, knows_nothing, "indifferent")

    def run(model, chunk):
        engine = StreamEngine(model, batch=8)
        out = [r for at in range(0, len(recording), chunk) for r in engine.feed(recording[at : at + chunk])]
        return out + engine.finish()

    whole, chunked = run(voiced, len(recording)), run(voiced, 1600)
    assert whole == chunked
    without = run(plain, len(recording))
    speech = [(a, b) for a, b in zip(whole, without) if a.is_speech]
    assert speech and [a.index for a in whole] == [b.index for b in without]
    assert any(a.raw_probabilities != b.raw_probabilities for a, b in speech)
    for a, b in zip(run(indifferent, len(recording)), without):  # the model's probabilities, to the power 0.5
        if a.is_speech:
            assert a.raw_label == b.raw_label
            root = {k: (b.raw_probabilities[k] + 1e-6) ** 0.5 for k in LABELS}
            total = sum(root.values())
            assert max(abs(a.raw_probabilities[k] - root[k] / total) for k in LABELS) < 1e-4
