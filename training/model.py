"""Model architectures, by name, for :mod:`training.train`.

Every model takes ``(px, px, channels)`` float input in 0..255 (the uint8 output of
:func:`server.render.encode` for the model's :class:`server.render.Encoding`, cast) and
returns softmax probabilities over the classes.
The rescaling to 0..1 is part of the model, so serving feeds rendered pixels unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
from keras import layers

from server.render import PICTURE, Encoding


def _conv_bn(x: keras.KerasTensor, filters: int, *, stride: int = 1, kernel: int = 3) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(6.0)(x)


def _sep(x: keras.KerasTensor, filters: int, *, stride: int = 1) -> keras.KerasTensor:
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    return _conv_bn(x, filters, kernel=1)


def _head(x: keras.KerasTensor, classes: int, dropout: float) -> keras.KerasTensor:
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(classes, activation="softmax", dtype="float32")(x)


def _input(encoding: Encoding) -> keras.KerasTensor:
    return keras.Input((encoding.input_px, encoding.input_px, encoding.depth), name="pixels")


def mobile(classes: int, width: float = 1.0, dropout: float = 0.2, encoding: Encoding = PICTURE) -> keras.Model:
    """MobileNet-v1-style stack of depthwise-separable convolutions for 64 px doodles."""
    c = lambda n: max(8, int(n * width))  # noqa: E731
    inp = _input(encoding)
    x = layers.Rescaling(1.0 / 255.0)(inp)
    x = _conv_bn(x, c(32), stride=2)  # 32
    x = _sep(x, c(64))
    x = _sep(x, c(128), stride=2)  # 16
    x = _sep(x, c(128))
    x = _sep(x, c(256), stride=2)  # 8
    x = _sep(x, c(256))
    x = _sep(x, c(512), stride=2)  # 4
    for _ in range(3):
        x = _sep(x, c(512))
    x = _sep(x, c(1024))
    return keras.Model(inp, _head(x, classes, dropout), name=f"mobile{width:g}")


def resnet(classes: int, width: float = 1.0, dropout: float = 0.2, encoding: Encoding = PICTURE) -> keras.Model:
    """Small residual network of dense 3x3 convolutions (CPU-friendly to train)."""
    c = lambda n: max(8, int(n * width))  # noqa: E731
    inp = _input(encoding)
    x = layers.Rescaling(1.0 / 255.0)(inp)
    x = _conv_bn(x, c(32), stride=2)  # 32
    for filters, stride in ((c(48), 1), (c(96), 2), (c(192), 2), (c(320), 2)):
        shortcut = x
        y = _conv_bn(x, filters, stride=stride)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
            shortcut = layers.BatchNormalization()(shortcut)
        x = layers.ReLU(6.0)(layers.Add()([y, shortcut]))
    return keras.Model(inp, _head(x, classes, dropout), name=f"resnet{width:g}")


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {"mobile": mobile, "resnet": resnet}


def build(
    name: str, classes: int, *, width: float = 1.0, dropout: float = 0.2, encoding: Encoding = PICTURE
) -> keras.Model:
    """Build architecture ``name`` (see :data:`ARCHITECTURES`) for input ``encoding``."""
    try:
        factory = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {sorted(ARCHITECTURES)}") from None
    return factory(classes, width=width, dropout=dropout, encoding=encoding)


def serving_model(model: keras.Model) -> keras.Model:
    """The classifier with a second output for serving: ``embedding``, the L2-normalised
    pooled features under the classifier's last layer (what custom words are matched on).
    Outputs, in order: scores ``(B, classes)``, embedding ``(B, D)``."""
    pooled = next(layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling2D))
    embedding = layers.UnitNormalization(name="embedding")(pooled.output)
    return keras.Model(model.inputs, [model.outputs[0], embedding], name=f"{model.name}_serving")


def to_tflite(model: keras.Model) -> bytes:
    """The serving model (:func:`serving_model`) as LiteRT flatbuffer bytes."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(serving_model(model))
    return bytes(converter.convert())


def save_weights(model: keras.Model, path: Path) -> None:
    """Write the weights alone, compressed (the Keras twin of the shipped LiteRT model)."""
    import numpy as np

    np.savez_compressed(path, *model.get_weights())


def load_keras(model_dir: Path) -> keras.Model:
    """The shipped model as a Keras model (for ``model.predict``): built from ``model.json``
    and loaded with ``doodle.weights.npz``."""
    import numpy as np

    meta = json.loads((model_dir / "model.json").read_text())
    encoding = Encoding.of(meta.get("render", {}))
    model = build(str(meta["architecture"]), int(meta["classes"]), width=float(meta["width"]), encoding=encoding)
    with np.load(model_dir / "doodle.weights.npz") as z:
        model.set_weights([z[f"arr_{i}"] for i in range(len(z.files))])
    return model
