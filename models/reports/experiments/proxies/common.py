"""What the GE2E proxies share (sessions 13 and 14): a clip's encoder input, a session's
order, running-mean centring and a clip-level score. Imported by the proxies beside it."""
import numpy as np

from livesense.audio import read_audio
from livesense.frontend import recording_windows
from livesense.voice import ENCODER_LEVEL_DBFS, audio_frames
from training.metrics import scores


def encoder_input(clip, config):
    """The encoder's frames, float32 (windows, frames, 400), of the windows ``livesense file``
    classifies in ``clip`` (its speech windows, else the one with most speech, as training
    does), each window's 2 s set to -30 dBFS RMS."""
    audio = read_audio(clip.path, config.sample_rate)
    every = recording_windows(audio, config)
    chosen = [w for w in every if w.is_speech] or [max(every, key=lambda w: w.speech_fraction)]
    batch = []
    for w in chosen:
        piece = np.zeros(config.window_samples, np.float32)
        real = audio[w.start : w.start + config.window_samples]
        piece[: len(real)] = real
        rms = np.sqrt(np.mean(real.astype(np.float64) ** 2)) + 1e-9
        batch.append(audio_frames(piece * np.float32(10 ** (ENCODER_LEVEL_DBFS / 20) / rms)))
    return np.stack(batch).astype(np.float32)


def streams(group, seed=0):
    """Indices into ``group`` (clips), per speaker, in a seeded order: a session's order."""
    by_speaker = {}
    for i, c in enumerate(group):
        by_speaker.setdefault(c.speaker, []).append(i)
    return [np.random.default_rng([seed, len(idx)]).permutation(idx) for _, idx in sorted(by_speaker.items())]


def centred(x, start_mean, count):
    """Each row of ``x`` minus the running mean (started from ``start_mean`` x ``count``),
    with the running total and count after the last row."""
    total, out = start_mean * count, []
    for e in x:
        total, count = total + e, count + 1
        out.append(e - total / count)
    return np.array(out), total, count


def ua_and_share(y, clip_probs, labels):
    """UA of the clips' verdicts (highest mean probability) and the largest share of one label."""
    pred = np.array([p.argmax() for p in clip_probs])
    return scores(y, pred, labels)["ua"], np.bincount(pred, minlength=len(labels)).max() / len(pred)
