"""The two Keras architectures. Both take normalised feature windows
(frames, n_features) and output class probabilities; neither uses ``Masking``,
which tf2onnx would turn into slow ``Loop`` ops instead of native ``LSTM``."""
from __future__ import annotations

import keras
from keras import layers

# Published defaults for each design: (batch size, max epochs). Early stopping on
# held-out speakers usually ends training sooner.
DEFAULTS = {"bilstm": (32, 50), "cnn": (64, 25)}


def build_bilstm(frames: int, n_features: int, n_classes: int, units: int = 64) -> keras.Model:
    """Two stacked bidirectional LSTMs, mean-pooled over time, dense, softmax.

    Mean pooling instead of the last state makes the output independent of
    where in the window the speech sits.
    """
    inputs = keras.Input((frames, n_features), name="features")
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(inputs)
    x = layers.Dropout(0.3)(x)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="bilstm")


def build_cnn(frames: int, n_features: int, n_classes: int) -> keras.Model:
    """Three 1-D convolution blocks over time (max-pooling, dropout), dense ReLU, softmax."""
    inputs = keras.Input((frames, n_features), name="features")
    x = inputs
    for filters, kernel in ((64, 5), (128, 5), (128, 3)):
        x = layers.Conv1D(filters, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling1D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


BUILDERS = {"bilstm": build_bilstm, "cnn": build_cnn}
