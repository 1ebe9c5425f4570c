"""VGG16 (Simonyan & Zisserman configuration D) for single-cell crops, with a width multiplier.

Why a width multiplier: full-width VGG16 is far too slow on CPU-only clinic PCs; the same 13-conv
topology at a fraction of the channels keeps the architecture the literature validated while meeting
the app's speed target. At width 1.0 without batch norm the conv base has exactly the layers (names
and shapes) of ``keras.applications.VGG16(include_top=False)`` so ImageNet weights can be loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import keras
from keras import layers

#: Configuration D: output channels of the 13 conv layers, grouped by block (each block ends in max-pool).
VGG16_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
IMAGENET_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network (stored in the model card)."""

    input_size: int = 48  # the shipped model's; `python -m training train` takes its defaults from here
    width: float = 0.25
    batch_norm: bool = True
    dropout: float = 0.3
    head_units: int = 64
    group_norm: int = 0  # > 0: GroupNorm with this many groups instead of batch norm (per-cell statistics)

    def channels(self) -> list[tuple[int, ...]]:
        return [tuple(scaled_channels(c, self.width) for c in block) for block in VGG16_BLOCKS]

    def name(self) -> str:
        norm = f"-gn{self.group_norm}" if self.group_norm else "-bn" if self.batch_norm else ""
        return f"malaria-vgg16-w{self.width:g}{norm}-{self.input_size}"

    def to_dict(self) -> dict:
        return asdict(self)


def scaled_channels(channels: int, width: float) -> int:
    """Channels after the width multiplier; at least 4 so tiny test models stay valid."""
    return max(4, int(round(channels * width)))


def build_vgg16(config: ModelConfig) -> keras.Model:
    """Build the classifier: VGG16 conv base -> global average pool -> small dense head -> sigmoid (N, 1)."""
    inputs = keras.Input((config.input_size, config.input_size, 3), name="input")
    x = inputs
    for b, block in enumerate(config.channels(), start=1):
        for c, filters in enumerate(block, start=1):
            name = f"block{b}_conv{c}"
            if config.group_norm:  # statistics of each cell itself, not of one lab's training batches
                x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
                x = layers.GroupNormalization(min(config.group_norm, filters), name=f"{name}_gn")(x)
                x = layers.Activation("relu", name=f"{name}_relu")(x)
            elif config.batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
                x = layers.BatchNormalization(name=f"{name}_bn")(x)
                x = layers.Activation("relu", name=f"{name}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if config.head_units > 0:
        x = layers.Dropout(config.dropout, name="head_dropout1")(x)
        x = layers.Dense(config.head_units, activation="relu", name="head_dense")(x)
    x = layers.Dropout(config.dropout, name="head_dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="prob")(x)
    return keras.Model(inputs, outputs, name=config.name().replace(".", "_"))


def copy_matching_weights(source: keras.Model, target: keras.Model) -> int:
    """Start ``target`` from ``source`` layer by layer (same names and shapes); a batch norm's scale and
    offset seed the GroupNorm that replaces it. Returns the number of layers copied.

    Why: fine-tuning a GroupNorm network from the trained batch-norm one costs a few epochs, not a
    from-scratch run (2 shared CPU cores).
    """
    copied = 0
    for layer in target.layers:
        weights = [w.shape for w in layer.get_weights()]
        if not weights:
            continue
        name = layer.name.removesuffix("_gn") + "_bn" if layer.name.endswith("_gn") else layer.name
        try:
            src = source.get_layer(name).get_weights()
        except ValueError:
            continue
        src = src[:2] if name.endswith("_bn") and layer.name.endswith("_gn") else src
        if [w.shape for w in src] == weights:
            layer.set_weights(src)
            copied += 1
    return copied


def conv_base_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The conv and pool layers of the VGG16 base, in order (what ``VGG16(include_top=False)`` has)."""
    return [layer for layer in model.layers
            if layer.name.startswith("block") and not layer.name.endswith(("_bn", "_relu"))]


def load_vgg16_weights(model: keras.Model, config: ModelConfig, weights: str) -> None:
    """Copy ImageNet VGG16 conv weights into ``model`` (width 1.0, no batch norm only).

    ``weights`` is ``"imagenet"`` (needs Keras' cached file; nothing is downloaded here) or a path to a
    weights file saved from ``keras.applications.VGG16(include_top=False)``.
    """
    if config.width != 1.0 or config.batch_norm:
        raise ValueError("ImageNet VGG16 weights fit only --width 1.0 without --batch-norm.")
    if weights == "imagenet":
        cached = Path.home() / ".keras" / "models" / IMAGENET_NOTOP_FILE
        if not cached.is_file():
            raise FileNotFoundError(
                f"ImageNet weights are not cached at {cached} and this machine cannot download them. "
                f"Copy {IMAGENET_NOTOP_FILE} there or pass --weights /path/to/file."
            )
        weights = str(cached)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"Weights file {path} does not exist.")
    size = config.input_size
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    reference.load_weights(str(path))
    for layer in conv_base_layers(model):
        layer.set_weights(reference.get_layer(layer.name).get_weights())


def count_flops(config: ModelConfig) -> int:
    """Multiply-accumulates x 2 per cell for the convs and dense layers (what inference costs)."""
    size, c_in, flops = config.input_size, 3, 0
    for block in config.channels():
        for c_out in block:
            flops += 2 * size * size * 9 * c_in * c_out
            c_in = c_out
        size //= 2
    if config.head_units > 0:
        flops += 2 * c_in * config.head_units
        c_in = config.head_units
    return flops + 2 * c_in
