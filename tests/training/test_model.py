"""VGG16 builder, ImageNet-weights loading from a local file, FLOP count, and the ONNX writer."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnxruntime as ort
import pytest

from training.model import ModelConfig, build_vgg16, conv_base_layers, count_flops, load_vgg16_weights
from training.onnx_export import save_onnx


def _randomise_bn(model: keras.Model, seed: int = 0) -> None:
    """Give batch norm non-trivial statistics so the ONNX folding is really exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, var.shape)])


def test_small_model_shapes_and_output() -> None:
    cfg = ModelConfig(input_size=32, width=0.125, batch_norm=True)
    model = build_vgg16(cfg)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(convs) == 13 and len(pools) == 5
    assert [c.filters for c in convs] == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert model.output_shape == (None, 1)
    out = model.predict(np.random.rand(3, 32, 32, 3).astype(np.float32), verbose=0)
    assert out.shape == (3, 1) and np.all((out >= 0) & (out <= 1))


@pytest.mark.slow
def test_full_width_conv_base_is_keras_vgg16() -> None:
    ours = build_vgg16(ModelConfig(input_size=32, width=1.0, batch_norm=False))
    ref = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    ref_layers = [layer for layer in ref.layers if not isinstance(layer, keras.layers.InputLayer)]
    base = conv_base_layers(ours)
    assert [layer.name for layer in base] == [layer.name for layer in ref_layers]
    assert [layer.output.shape for layer in base] == [layer.output.shape for layer in ref_layers]
    assert [[w.shape for w in layer.weights] for layer in base] == [
        [w.shape for w in layer.weights] for layer in ref_layers]


@pytest.mark.slow
def test_weights_file_is_loaded_into_the_conv_base(tmp_path: Path) -> None:
    ref = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    ref.save_weights(path)
    cfg = ModelConfig(input_size=32, width=1.0, batch_norm=False)
    ours = build_vgg16(cfg)
    load_vgg16_weights(ours, cfg, str(path))
    for layer in conv_base_layers(ours):
        for a, b in zip(layer.get_weights(), ref.get_layer(layer.name).get_weights(), strict=False):
            np.testing.assert_array_equal(a, b)


def test_weights_need_full_width_and_a_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = ModelConfig(input_size=32, width=0.25, batch_norm=True)
    with pytest.raises(ValueError, match="width 1.0"):
        load_vgg16_weights(build_vgg16(small), small, "imagenet")
    monkeypatch.setenv("HOME", str(tmp_path))
    full = ModelConfig(input_size=32, width=1.0, batch_norm=False)
    with pytest.raises(FileNotFoundError, match="cannot download"):
        load_vgg16_weights(build_vgg16(full), full, "imagenet")


def test_flops_match_hand_count() -> None:
    cfg = ModelConfig(input_size=8, width=0.125, batch_norm=True, head_units=4)
    convs = [(8, 3, 8), (8, 8, 8), (4, 8, 16), (4, 16, 16), (2, 16, 32), (2, 32, 32), (2, 32, 32),
             (1, 32, 64), (1, 64, 64), (1, 64, 64), (0, 64, 64), (0, 64, 64), (0, 64, 64)]
    expected = sum(2 * s * s * 9 * i * o for s, i, o in convs) + 2 * 64 * 4 + 2 * 4
    assert count_flops(cfg) == expected


@pytest.mark.parametrize("batch_norm, head_units", [(True, 16), (False, 0)])
def test_onnx_matches_keras(tmp_path: Path, batch_norm: bool, head_units: int) -> None:
    cfg = ModelConfig(input_size=32, width=0.125, batch_norm=batch_norm, head_units=head_units)
    model = build_vgg16(cfg)
    _randomise_bn(model)
    path = save_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(1).random((5, 32, 32, 3), dtype=np.float32)
    ref = model.predict(x, verbose=0)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == (5, 1)
    np.testing.assert_allclose(got, ref, atol=1e-5)
