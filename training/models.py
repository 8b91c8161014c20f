"""The two Keras architectures. Both take normalised feature windows
(frames, n_features) and output class probabilities; neither uses ``Masking``,
which tf2onnx would turn into slow ``Loop`` ops instead of native ``LSTM``."""
from __future__ import annotations

import json
from pathlib import Path

import keras
from keras import layers

from livesense.model import ModelInfo

# Published defaults for each design: (batch size, max epochs). Early stopping on
# held-out speakers usually ends training sooner.
DEFAULTS = {"bilstm": (32, 50), "cnn": (64, 25)}  # logreg is fitted to convergence; ensemble fits both ways


def _classifier_head(sequence, inputs, n_classes: int):
    """Class probabilities from a learned sequence and the input window: the mean and
    std over time of both (the input's keep the window's plain statistics in view),
    then one regularised dense layer."""
    x = layers.Concatenate()([_mean_std_pool(sequence), _mean_std_pool(inputs)])
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(64, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))(x)
    x = layers.Dropout(0.3)(x)
    return layers.Dense(n_classes, activation="softmax", name="probabilities")(x)


def build_bilstm(frames: int, n_features: int, n_classes: int, units: int = 48) -> keras.Model:
    """Two stacked bidirectional LSTMs, statistics-pooled over time, dense, softmax.

    The frames are first max-pooled in pairs (40 ms steps), which halves the
    recurrent work: every protocol retrains it, on two CPU cores. Mean and
    standard deviation pooling instead of the last state make the output
    independent of where in the window the speech sits; as in the CNN, the
    input frames' own statistics join the pooled LSTM states.
    """
    inputs = keras.Input((frames, n_features), name="features")
    x = layers.MaxPooling1D(2)(inputs)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
    outputs = _classifier_head(x, inputs, n_classes)
    return keras.Model(inputs, outputs, name="bilstm")


# Added to the variance before the square root, so its gradient stays finite.
TIME_STD_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="livesense")
class TimeStd(layers.Layer):
    """Standard deviation over time: (batch, time, channels) -> (batch, channels)."""

    def call(self, x):
        return keras.ops.sqrt(keras.ops.var(x, axis=1) + TIME_STD_EPSILON)


def _mean_std_pool(x):
    """Mean and standard deviation over time, concatenated: (batch, time, c) -> (batch, 2c)."""
    return layers.Concatenate()([layers.GlobalAveragePooling1D()(x), TimeStd()(x)])


def build_cnn(frames: int, n_features: int, n_classes: int) -> keras.Model:
    """1-D convolution blocks over time (max-pooling, dropout), statistics pooling, dense ReLU, softmax.

    Beside the convolutions, the mean and standard deviation of the input
    frames themselves feed the dense layer: utterance statistics of MFCCs are
    what carries over best to unseen corpora (a logistic regression on them is
    the baseline every shipped model must beat), and the convolutions add
    local spectro-temporal patterns on top.
    """
    inputs = keras.Input((frames, n_features), name="features")
    x = inputs
    for filters, kernel in ((64, 5), (96, 5)):
        x = layers.Conv1D(filters, kernel, padding="same", use_bias=False,
                          kernel_regularizer=keras.regularizers.l2(1e-4))(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Dropout(0.3)(x)
    outputs = _classifier_head(x, inputs, n_classes)
    return keras.Model(inputs, outputs, name="cnn")


def build_logreg(frames: int, n_features: int, n_classes: int) -> keras.Model:
    """The baseline: logistic regression on the mean and std of the window's frames.

    Every shipped model must beat it on the cross-corpus protocol. Its weights
    are fitted by scikit-learn (``fit.fit_logreg``), which Adam does not match
    in any number of epochs we tried; this graph only carries them to ONNX.
    """
    inputs = keras.Input((frames, n_features), name="features")
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities",
                           kernel_regularizer=keras.regularizers.l2(1e-3))(_mean_std_pool(inputs))
    return keras.Model(inputs, outputs, name="logreg")


# The ensemble's members, by the names ``fit`` trains them under and its layers carry.
ENSEMBLE_MEMBERS = {"cnn": build_cnn, "logreg": build_logreg}


def build_ensemble(frames: int, n_features: int, n_classes: int) -> keras.Model:
    """The mean of ``cnn``'s and ``logreg``'s probabilities, as one graph, so that the
    runtime runs it as any other model. ``fit`` trains each member its own way."""
    inputs = keras.Input((frames, n_features), name="features")
    members = [build(frames, n_features, n_classes) for build in ENSEMBLE_MEMBERS.values()]
    outputs = layers.Average(name="probabilities")([member(inputs) for member in members])
    return keras.Model(inputs, outputs, name="ensemble")


BUILDERS = {"bilstm": build_bilstm, "cnn": build_cnn, "logreg": build_logreg, "ensemble": build_ensemble}


def load_trained(keras_path: Path) -> tuple[keras.Model, ModelInfo]:
    """A model saved by ``train`` and its metadata (from the ``.train.json`` beside it).

    The architecture is rebuilt from this module and the weights loaded into
    it, so models saved by earlier code with the same weights still load.
    """
    info = ModelInfo.from_json(json.dumps(json.loads(keras_path.with_suffix(".train.json").read_text())["info"]))
    model = BUILDERS[info.name](info.features.frames_per_window, info.features.n_features, len(info.labels))
    model.load_weights(keras_path)
    return model, info
