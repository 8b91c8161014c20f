"""What the GE2E proxies share (sessions 13 to 15): a clip's encoder input, a session's
order, running-mean centring, a head fitted on centred windows and a clip-level score.
Imported by the proxies beside it."""
import numpy as np
from sklearn.linear_model import LogisticRegression

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


def stream_head(train, test, feats, labels, standardised, C, output, prior=4):
    """A class-balanced logistic regression (``C``) on ``train``'s windows, each minus the
    running mean of its speaker's stream (started from the training mean counted as
    ``prior`` windows), the features (``feats``: path -> (windows, d)) standardised by
    the training windows' deviation if ``standardised``. Per ``test`` clip, ``output``
    (a method name: "predict_proba", "decision_function") of its windows centred alone
    from the training mean ("cold") and in its speaker's session ("session"), with each
    window's share of the training mean in its running mean: {mode: [(out, share)]}."""
    stacked = np.concatenate([feats[c.path] for c in train])
    mu, sd = stacked.mean(0), (stacked.std(0) + 1e-6 if standardised else 1.0)
    f = {c.path: (feats[c.path] - mu) / sd for c in train + test}
    xs, ys = [], []
    for order in streams(train):
        total, count = np.zeros(len(mu)), prior  # standardised: the training mean is 0
        for i in order:
            out, total, count = centred(f[train[i].path], total / count, count)
            xs.append(out), ys.append([labels.index(train[i].emotion)] * len(out))
    read = getattr(LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
                   .fit(np.concatenate(xs), np.concatenate(ys)), output)
    cold = [(read(centred(f[c.path], np.zeros(len(mu)), prior)[0]), prior / (prior + 1 + np.arange(len(f[c.path]))))
            for c in test]
    session = [None] * len(test)
    for order in streams(test):
        total, count = np.zeros(len(mu)), prior
        for i in order:
            share = prior / (count + 1 + np.arange(len(f[test[i].path])))
            out, total, count = centred(f[test[i].path], total / count, count)
            session[i] = (read(out), share)
    return {"cold": cold, "session": session}
