"""Microscopy augmentation on whole batches (vectorised, so 2 CPU cores are enough).

Cells have no orientation: any rotation and flips are label-preserving. Small scale changes cover
segmentation differences; brightness, contrast, per-channel gain and a hue rotation mimic stain and
camera variation between labs. The background stays pure black, like every crop the app produces.
Random numbers are stateless, seeded by (seed, batch number), so a run is reproducible.
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


def augment_batch(images_uint8: tf.Tensor, step: tf.Tensor, seed: int, cfg: AugmentConfig = AugmentConfig()) -> tf.Tensor:
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
    return tf.clip_by_value(x, 0.0, 1.0) * mask
