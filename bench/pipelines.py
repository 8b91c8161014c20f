"""In-process pipelines timed on the same audio: the livesense engine, its floor
(features + ONNX alone), the Keras model it replaces, and a librosa pipeline of
the kind most published projects use.

Each ``time_*`` function returns wall seconds for the whole audio (the best of
``repeats`` runs, after one untimed warm-up call where the pipeline has
one-time costs); callers divide the audio's length by it for throughput.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from livesense.audio import stream_audio
from livesense.engine import StreamEngine
from livesense.features import compute_features, window_features
from livesense.frontend import FrameCache
from livesense.model import EmotionModel
from livesense.recognizer import FILE_BATCH, FILE_BLOCK_S
from livesense.vad import SpeechDetector

from .models import BenchModel, tensorflow_one_thread
from .speech import SAMPLE_RATE, Speech

def _best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def engine_windows(model: EmotionModel, audio: np.ndarray) -> list[int]:
    """Start samples of the windows the engine classifies (its speech windows)."""
    engine = StreamEngine(model)
    results = engine.feed(audio) + engine.finish()
    return [int(round(r.start_s * SAMPLE_RATE)) for r in results if r.is_speech]


def time_engine(model: EmotionModel, audio: np.ndarray, repeats: int) -> float:
    """The whole engine (VAD, features, normalisation, ONNX, smoothing) as file
    analysis runs it: blocks of ``FILE_BLOCK_S``, ``FILE_BATCH`` speech windows per ONNX call."""
    step = int(FILE_BLOCK_S * SAMPLE_RATE)

    def run():
        engine = StreamEngine(model, batch=FILE_BATCH)
        for pos in range(0, len(audio), step):
            engine.feed(audio[pos : pos + step])
        engine.finish()

    return _best(run, repeats)


def time_floor(model: EmotionModel, audio: np.ndarray, starts: list[int], repeats: int) -> float:
    """MFCC + ONNX alone on the engine's speech windows: the features computed
    the engine's way (each frame once, a group's new frames in one call),
    ``FILE_BATCH`` windows per group and ONNX call; for a model with a voice
    head, the voice encoder on the same groups too (it is model inference)."""
    config = model.features
    voiced = model.info.voice_head is not None

    def run():
        features, pieces = FrameCache(config), []
        for k, start in enumerate(starts, 1):
            piece = audio[start : start + config.window_samples]
            features.add(piece, start)
            pieces.append(piece)
            if k % FILE_BATCH == 0 or k == len(starts):
                model.predict(window_features(np.stack(features.analyses()), config))
                if voiced:
                    model.voice_encoder.describe(pieces)
                pieces = []

    return _best(run, repeats)


def time_voice_encoder(model: EmotionModel, audio: np.ndarray, starts: list[int], repeats: int) -> float:
    """The voice encoder alone on the engine's speech windows, ``FILE_BATCH`` per call."""
    pieces = [audio[start : start + model.features.window_samples] for start in starts]
    return _best(lambda: [model.voice_encoder.describe(pieces[i : i + FILE_BATCH])
                          for i in range(0, len(pieces), FILE_BATCH)], repeats)


def _load(bench_model: BenchModel, model: EmotionModel):
    """The Keras model: its architecture built by training/models.py, the weights
    from the .keras file. (Loading the file whole fails: Keras cannot infer the
    output shape of the statistics-pooling Lambda layer.)"""
    tensorflow_one_thread()
    from training.models import BUILDERS

    cfg = model.features
    keras_model = BUILDERS[bench_model.arch](cfg.frames_per_window, cfg.n_features, len(model.labels))
    keras_model.load_weights(bench_model.keras)
    return keras_model


def time_keras(model: EmotionModel, bench_model: BenchModel, speech: Speech, starts: list[int], repeats: int,
               per_clip: bool = True) -> float:
    """The same windows through ``compute_features`` and Keras ``model.predict``:
    one call per source clip (its windows as a batch), as the published design
    classifies a clip, or one call for all windows (``per_clip=False``, Keras'
    best case)."""
    keras_model = _load(bench_model, model)
    size, stats = model.features.window_samples, model.info.global_stats
    clip_of = np.searchsorted(speech.bounds, starts, side="right") - 1
    groups = np.split(np.asarray(starts), np.flatnonzero(np.diff(clip_of)) + 1) if per_clip else [starts]

    def run():
        for group in groups:
            batch = np.stack([stats.normalize(compute_features(speech.audio[s : s + size], model.features))
                              for s in group])
            keras_model.predict(batch, verbose=0)

    run()  # tf.function tracing on the first call is a one-time cost
    return _best(run, repeats)


def time_librosa(model: EmotionModel, bench_model: BenchModel, speech: Speech, repeats: int) -> float:
    """A typical published pipeline: per clip ``librosa.load``, MFCC + deltas per
    2 s window with ``librosa.feature`` (and for a model with pitch features,
    ``librosa.yin`` pitch), per-clip standardisation, Keras ``predict`` on the
    clip's windows. Reads the corpus files (decoding included)."""
    import librosa

    keras_model = _load(bench_model, model)
    cfg = model.features
    size, hop = cfg.window_samples, cfg.hop_samples

    def clip(path):
        y, sr = librosa.load(path, sr=cfg.sample_rate)
        y = np.pad(y, (0, max(0, size - len(y))))
        windows = []
        for start in range(0, len(y) - size + 1, hop):
            mfcc = librosa.feature.mfcc(y=y[start : start + size], sr=sr, n_mfcc=cfg.n_mfcc, n_fft=cfg.n_fft,
                                        hop_length=cfg.frame_hop_samples, win_length=cfg.frame_samples,
                                        window=cfg.analysis_window, n_mels=cfg.n_mels, fmin=cfg.low_hz,
                                        fmax=cfg.high_hz, center=False)
            columns = [mfcc, librosa.feature.delta(mfcc)]
            if cfg.pitch:
                # YIN needs two periods of the lowest pitch per frame: longer frames give
                # fewer of them, so the last pitch is repeated to fill the window's frames.
                f0 = librosa.yin(y[start : start + size], fmin=cfg.pitch_min_hz, fmax=cfg.pitch_max_hz, sr=sr,
                                 frame_length=2 * cfg.n_fft, hop_length=cfg.frame_hop_samples, center=False)
                f0 = np.pad(np.log(f0), (0, mfcc.shape[1] - len(f0)), mode="edge")
                columns += [np.ones((1, mfcc.shape[1])), f0[None]]
            windows.append(np.vstack(columns).T)
        batch = np.stack(windows)
        batch = (batch - batch.mean(axis=(0, 1))) / (batch.std(axis=(0, 1)) + 1e-6)
        keras_model.predict(batch, verbose=0)

    clip(speech.paths[0])  # librosa's and TensorFlow's one-time set-up
    return _best(lambda: [clip(path) for path in speech.paths], repeats)


def time_vad(audio: np.ndarray, repeats: int) -> float:
    """WebRTC VAD on the levelled input alone, as file mode feeds it (blocks of
    ``FILE_BLOCK_S``): what the engine does beyond the floor that no speed-up of
    the features or the model can remove."""
    step = int(FILE_BLOCK_S * SAMPLE_RATE)

    def run():
        detector = SpeechDetector()
        for pos in range(0, len(audio), step):
            detector.speech_mask(audio[pos : pos + step])

    return _best(run, repeats)


def time_decode(path, repeats: int) -> float:
    """Reading a file as `livesense file` does (blocks of ``FILE_BLOCK_S``)."""
    return _best(lambda: list(stream_audio(path, SAMPLE_RATE, FILE_BLOCK_S)), repeats)
