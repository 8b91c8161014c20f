"""The GE2E voice encoder and the voice head (livesense.voice) on real speech."""
from __future__ import annotations

import json

import numpy as np
import pytest

from livesense.audio import read_audio
from livesense.engine import StreamEngine
from livesense.model import EmotionModel, ModelError
from livesense.voice import (ENCODER_LEVEL_DBFS, EMBEDDING_SIZE, RunningVoice, VoiceEncoder, VoiceHead,
                             audio_frames, fuse)

from .runtime_support import LABELS, SAMPLES, bundled_recording, build_tiny_model


@pytest.fixture(scope="module")
def encoder():
    return VoiceEncoder()


def _windows(name: str, count: int = 3) -> list[np.ndarray]:
    audio = read_audio(SAMPLES / f"{name}.flac")
    return [audio[i * 8000 : i * 8000 + 32000] for i in range(count)]


def _head(seed: int = 0, model_weight: float = 0.5) -> VoiceHead:
    rng = np.random.default_rng(seed)
    return VoiceHead(rng.normal(0, 5, (len(LABELS), EMBEDDING_SIZE)), rng.normal(0, 1, len(LABELS)),
                     np.abs(rng.normal(0, 0.06, EMBEDDING_SIZE)), 4, model_weight)


def test_audio_frames_are_centred_every_10_ms():
    audio = np.arange(32000, dtype=np.float32)
    frames = audio_frames(audio)
    assert frames.shape == (201, 400)
    assert np.all(frames[0, :200] == 0) and frames[0, 200] == 0.0 and frames[0, 201] == 1.0
    assert frames[10, 200] == 1600.0  # frame t is centred on sample 160 t


def test_embeddings_are_unit_vectors_that_ignore_the_gain(encoder):
    windows = _windows("1058_IWL_ANG_XX")
    loud = encoder.embed(windows)
    quiet = encoder.embed([w * np.float32(10 ** (-30 / 20)) for w in windows])
    assert loud.shape == (3, EMBEDDING_SIZE)
    np.testing.assert_allclose(np.linalg.norm(loud, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(loud, quiet, atol=1e-4)  # each window is set to -30 dBFS first
    assert ENCODER_LEVEL_DBFS == -30.0


def test_one_voice_is_closer_to_itself_than_to_another(encoder, datasets):
    """RAVDESS actors 1 (male) and 2 (female), neutral, the same sentence: each
    actor's two takes are closer to each other than to the other actor's."""
    def first_2_s(actor: int, take: int) -> np.ndarray:
        audio = read_audio(datasets / "ravdess" / f"Actor_{actor:02d}" / f"03-01-01-01-01-{take:02d}-{actor:02d}.flac")
        return audio[8000:40000]

    one = encoder.embed([first_2_s(1, 1), first_2_s(1, 2)])
    two = encoder.embed([first_2_s(2, 1), first_2_s(2, 2)])
    assert float(one[0] @ one[1]) > max(float(one[i] @ two[j]) for i in range(2) for j in range(2))
    assert float(two[0] @ two[1]) > max(float(one[i] @ two[j]) for i in range(2) for j in range(2))


def test_running_voice_centres_on_the_mean_so_far_whatever_the_grouping():
    head = _head()
    embeddings = np.random.default_rng(1).random((5, EMBEDDING_SIZE))
    whole = RunningVoice(head.mean, head.prior_windows).centre(embeddings)
    split = RunningVoice(head.mean, head.prior_windows)
    parts = np.concatenate([split.centre(embeddings[:2]), split.centre(embeddings[2:])])
    np.testing.assert_allclose(whole, parts)
    expected = embeddings[2] - (head.mean * 4 + embeddings[:3].sum(0)) / 7
    np.testing.assert_allclose(whole[2], expected)


def test_fuse_mixes_in_the_log_domain():
    model = np.array([[0.7, 0.1, 0.1, 0.05, 0.05, 0.0]])
    voice = np.array([[0.1, 0.5, 0.1, 0.1, 0.1, 0.1]])
    np.testing.assert_allclose(fuse(model, voice, 1.0), model, atol=1e-5)
    mixed = fuse(model, voice, 0.5)
    assert mixed.sum() == pytest.approx(1.0)
    expected = np.sqrt((model + 1e-6) * (voice + 1e-6))
    np.testing.assert_allclose(mixed, expected / expected.sum())


def _with_head(tmp_path, head: VoiceHead | None, name="tiny") -> EmotionModel:
    return EmotionModel(build_tiny_model(tmp_path / f"{name}.onnx", voice_head=head))


def test_a_head_round_trips_through_the_metadata_and_a_wrong_one_is_refused(tmp_path):
    head = _head()
    model = _with_head(tmp_path, head)
    np.testing.assert_allclose(model.info.voice_head.weights, head.weights, atol=1e-6)
    assert model.info.voice_head.prior_windows == 4 and model.info.voice_head.model_weight == 0.5
    broken = head.to_dict()
    broken["weights"] = broken["weights"][:3]
    import onnx

    proto = onnx.load(str(model.path))
    values = json.loads(proto.metadata_props[0].value)
    values["voice_head"] = broken
    proto.metadata_props[0].value = json.dumps(values)
    onnx.save(proto, str(tmp_path / "broken.onnx"))
    with pytest.raises(ModelError, match="voice head is not 6 x 256"):
        EmotionModel(tmp_path / "broken.onnx")


def test_the_engine_mixes_the_head_in_and_chunking_changes_nothing(tmp_path):
    recording = bundled_recording()
    plain = _with_head(tmp_path, None, "plain")
    voiced = _with_head(tmp_path, _head(), "voiced")
    neutral_weight = _with_head(tmp_path, _head(model_weight=1.0), "weight-one")

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
    for a, b in zip(run(neutral_weight, len(recording)), without):  # model weight 1: the model alone
        if a.is_speech:
            assert a.raw_label == b.raw_label
            assert max(abs(a.raw_probabilities[k] - b.raw_probabilities[k]) for k in LABELS) < 1e-4
