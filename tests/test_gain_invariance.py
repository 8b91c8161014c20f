"""The readout follows the voice, not the microphone: a gain moves the shipped
model's per-window probabilities by less than :data:`BOUND`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livesense.audio import read_audio
from livesense.engine import StreamEngine
from livesense.model import DEFAULT_MODEL, EmotionModel

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
# Largest change of any class probability in a window that is speech at both
# gains. Features are gain-invariant by construction (relative_level); what is
# left moves with the VAD (which frames count as speech, hence the running
# statistics) and with clipping above full scale.
BOUND = 0.10


@pytest.fixture(scope="module")
def model():
    return EmotionModel(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def recording():
    """Three bundled clips of one speaker (angry, happy, sad) as one recording, with pauses."""
    pause = np.zeros(8000, np.float32)
    names = ("1058_IWL_ANG_XX", "1058_IEO_HAP_MD", "1058_TAI_SAD_XX")
    return np.concatenate([piece for n in names for piece in (read_audio(SAMPLES / f"{n}.flac"), pause)])


def _speech_windows(model, audio) -> dict[int, np.ndarray]:
    engine = StreamEngine(model, batch=8)
    results = engine.feed(audio) + engine.finish()
    return {r.index: np.array([r.raw_probabilities[k] for k in model.labels]) for r in results if r.is_speech}


# The shipped models feed c0, the level against full scale, to the classifier
# through running statistics that start from the corpora's level: a gain moves
# their probabilities by up to 0.77 (at -30 dB; 0.20 at -10 dB, 0.08 at +6 dB).
# Strict: this fails as soon as a shipped model meets the bound.
@pytest.mark.xfail(strict=True, reason="the shipped models are not yet gain-invariant (issue 19)")
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gain_db=st.floats(min_value=-30.0, max_value=6.0))
def test_a_gain_between_minus_30_and_plus_6_db_barely_moves_the_probabilities(model, recording, gain_db):
    reference = _speech_windows(model, recording)
    scaled = _speech_windows(model, np.clip(recording * np.float32(10 ** (gain_db / 20)), -1, 1))
    shared = sorted(set(reference) & set(scaled))
    assert len(shared) >= 0.9 * len(reference)  # the same speech is heard
    change = max(np.abs(reference[i] - scaled[i]).max() for i in shared)
    assert change < BOUND, f"{gain_db:+.1f} dB moved a probability by {change:.3f}"
