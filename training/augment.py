"""Microscopy augmentation on whole batches (vectorised, so 2 CPU cores are enough).

Cells have no orientation: any rotation and flips are label-preserving. Small scale changes cover
segmentation differences; brightness, contrast, per-channel gain and a hue rotation mimic stain and
camera variation between labs. The background stays pure black, like every crop the app produces.
Random numbers are stateless, seeded by (seed, batch number), so a run is reproducible.

The cross-lab preset (``CROSS_LAB``) widens this to what other labs produce: saturation down to grey,
per-dye stain intensity (a per-channel exponent, which is a gain in optical-density space: x**g =
exp(-g * OD)), gamma, lower optical resolution (a batch resampled through 20-48 px: other labs' cells are
often 40-80 px where NIH's are ~130 px), blur and sensor noise. Stain *colour* transfer to other labs'
cells is done before this, in NumPy (``training.colour_transfer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    scale: float = 0.1  # zoom in [1 - scale, 1 + scale]
    brightness: float = 0.06  # additive, in [0, 1] intensity units
    contrast: float = 0.15  # factor in [1 - contrast, 1 + contrast] around the cell mean
    stain: float = 0.06  # per-channel gain in [1 - stain, 1 + stain]
    hue: float = 0.05  # rotation about the grey axis, in turns (0.05 = 18 degrees)
    saturation: float = 0.0  # chroma factor in [1 - saturation, 1 + saturation] about the grey axis
    grey: float = 0.0  # share of cells rendered grey (monochrome camera, faded stain)
    od_stain: float = 0.0  # per-channel exponent in [1 - od_stain, 1 + od_stain]: dye intensity in OD space
    low_res: float = 0.0  # share of batches resampled through a smaller side (low_res_min..input size)
    low_res_min: int = 20
    blur: float = 0.0  # share of batches blurred with a Gaussian of sigma up to 1.2 px
    noise: float = 0.0  # largest per-pixel Gaussian noise std (intensity units)


CROSS_LAB = AugmentConfig(scale=0.15, brightness=0.1, contrast=0.25, stain=0.1, hue=0.05, saturation=0.4,
                          grey=0.05, od_stain=0.25, low_res=0.5, low_res_min=20, blur=0.3, noise=0.03)
PRESETS = {"basic": AugmentConfig(), "cross-lab": CROSS_LAB}


def _geometry(shape: tf.Tensor, size: int, seeds: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """Per-sample projective transforms: random rotation, optional mirror, zoom about the centre."""
    n = shape[0]
    angle = tf.random.stateless_uniform([n], seeds[0], 0.0, 2 * math.pi)
    zoom = tf.random.stateless_uniform([n], seeds[1], 1 - cfg.scale, 1 + cfg.scale)
    mirror = tf.where(tf.random.stateless_uniform([n], seeds[2]) < 0.5, -1.0, 1.0)
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # Output pixel (x, y) samples input M @ ((x, y) - c) + c, M = R(angle) diag(mirror, 1) / zoom.
    a0, a1, b0, b1 = cos * mirror, -sin, sin * mirror, cos
    c = (size - 1) / 2.0
    a2 = c - a0 * c - a1 * c
    b2 = c - b0 * c - b1 * c
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _hue_matrices(delta: tf.Tensor) -> tf.Tensor:
    """Rodrigues rotation matrices about the (1,1,1) axis: hue shift that keeps grey grey."""
    theta = 2 * math.pi * delta
    cos, sin = tf.cos(theta), tf.sin(theta)
    k = 1.0 / 3.0
    s3 = tf.sqrt(k) * sin
    d = cos + k * (1 - cos)
    o = k * (1 - cos)
    rows = [[d, o - s3, o + s3], [o + s3, d, o - s3], [o - s3, o + s3, d]]
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)  # (N, 3, 3)


def augment_batch(images_uint8: tf.Tensor, step: tf.Tensor, seed: int,
                  cfg: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """uint8 (N, S, S, 3) -> augmented float32 in [0, 1] (the model's input scale)."""
    size = images_uint8.shape[1]
    x = tf.cast(images_uint8, tf.float32) / 255.0
    seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)]), 8)
    n = tf.shape(x)[0]
    x = tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=_geometry(tf.shape(x), size, seeds, cfg), output_shape=[size, size],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    mask = tf.cast(tf.reduce_max(x, axis=-1, keepdims=True) > 0, tf.float32)
    area = tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3], keepdims=True), 1.0)
    mean = tf.reduce_sum(x, axis=[1, 2, 3], keepdims=True) / (3 * area)
    contrast = tf.random.stateless_uniform([n, 1, 1, 1], seeds[3], 1 - cfg.contrast, 1 + cfg.contrast)
    x = (x - mean) * contrast + mean
    x += tf.random.stateless_uniform([n, 1, 1, 1], seeds[4], -cfg.brightness, cfg.brightness)
    x *= tf.random.stateless_uniform([n, 1, 1, 3], seeds[5], 1 - cfg.stain, 1 + cfg.stain)
    hue = _hue_matrices(tf.random.stateless_uniform([n], seeds[6], -cfg.hue, cfg.hue))
    x = tf.einsum("nhwc,ndc->nhwd", x, hue)
    x = tf.clip_by_value(x, 0.0, 1.0)
    if cfg.saturation or cfg.grey or cfg.od_stain:
        x = _stain_and_saturation(x, n, seeds[7], cfg)
    if cfg.low_res or cfg.blur or cfg.noise:
        x = _optics(x, n, size, tf.random.experimental.stateless_split(seeds[7], 6), cfg)
    return tf.clip_by_value(x, 0.0, 1.0) * mask


def _stain_and_saturation(x: tf.Tensor, n: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """Dye intensity (per-channel exponent = OD gain), then chroma scaling; some cells turned grey."""
    s = tf.random.experimental.stateless_split(seed, 3)
    exponent = tf.random.stateless_uniform([n, 1, 1, 3], s[0], 1 - cfg.od_stain, 1 + cfg.od_stain)
    x = tf.pow(tf.maximum(x, 1.0 / 255.0), exponent)
    chroma = tf.random.stateless_uniform([n, 1, 1, 1], s[1], 1 - cfg.saturation, 1 + cfg.saturation)
    chroma = tf.where(tf.random.stateless_uniform([n, 1, 1, 1], s[2]) < cfg.grey, 0.0, chroma)
    grey = tf.reduce_mean(x, axis=-1, keepdims=True)
    return grey + (x - grey) * chroma


def _optics(x: tf.Tensor, n: tf.Tensor, size: int, s: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """Per batch: lower optical resolution and blur; per cell: sensor noise."""
    side = tf.random.stateless_uniform([], s[0], cfg.low_res_min, size + 1, dtype=tf.int32)
    small = tf.image.resize(tf.image.resize(x, tf.stack([side, side]), "area"), [size, size], "bilinear")
    x = tf.where(tf.random.stateless_uniform([], s[1]) < cfg.low_res, small, x)
    sigma = tf.random.stateless_uniform([], s[2], 0.3, 1.2)
    taps = tf.exp(-tf.square(tf.range(-2.0, 3.0)) / (2 * sigma * sigma))
    taps /= tf.reduce_sum(taps)
    kernel = tf.tile((taps[:, None] * taps[None, :])[:, :, None, None], [1, 1, 3, 1])
    blurred = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
    x = tf.where(tf.random.stateless_uniform([], s[3]) < cfg.blur, blurred, x)
    level = tf.random.stateless_uniform([n, 1, 1, 1], s[4], 0.0, cfg.noise)
    return x + level * tf.random.stateless_normal(tf.shape(x), s[5])
