"""Issue 18 pieces on generated cells: GroupNorm network + ONNX export, the BN -> GN start point, stain
transfer aimed at parasitized cells, rendering at another lab's cell size, and the transfer threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from malaria_desktop.core.classification.crops import crop_cell
from training.colour_transfer import ColourTransfer
from training.model import ModelConfig, build_vgg16, copy_matching_weights
from training.native_size import NativeSize
from training.onnx_export import save_onnx
from training.operating_point import slide_threshold, transfer_threshold
from training.render import at_native_side


def _disc(size: int, colour: tuple[int, int, int], dot: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size, 3), np.uint8)
    img[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2 - 2) ** 2] = colour
    if dot:
        img[(yy - size / 2) ** 2 + (xx - size / 2 - 4) ** 2 < (size / 26) ** 2] = (90, 20, 90)
    return img


def test_group_norm_network_exports_to_onnx_with_the_same_outputs(tmp_path: Path) -> None:
    cfg = ModelConfig(input_size=32, width=0.125, group_norm=4, head_units=8)
    model = build_vgg16(cfg)
    assert any(layer.name.endswith("_gn") for layer in model.layers)
    assert not any(layer.name.endswith("_bn") for layer in model.layers)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial GN scale/offset, so the export's Mul/Add are exercised
        if layer.name.endswith("_gn"):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    x = rng.random((6, 32, 32, 3)).astype(np.float32)
    ref = model.predict(x, verbose=0)
    save_onnx(model, tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == (6, 1) and np.abs(ref - got).max() < 1e-4
    # GroupNorm statistics are each cell's own: a cell's output does not depend on the rest of the batch
    alone = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x[:1]})[0]
    assert np.abs(alone - got[:1]).max() < 1e-6


def test_batch_norm_model_seeds_the_group_norm_model() -> None:
    bn = build_vgg16(ModelConfig(input_size=32, width=0.125, head_units=8))
    gn = build_vgg16(ModelConfig(input_size=32, width=0.125, head_units=8, group_norm=2))
    copied = copy_matching_weights(bn, gn)
    assert copied == len([layer for layer in gn.layers if layer.get_weights()])  # every conv, GN, dense layer
    np.testing.assert_array_equal(gn.get_layer("block3_conv1").get_weights()[0],
                                  bn.get_layer("block3_conv1").get_weights()[0])
    gamma, beta = bn.get_layer("block1_conv1_bn").get_weights()[:2]
    got = gn.get_layer("block1_conv1_gn").get_weights()
    np.testing.assert_array_equal(got[0], gamma)
    np.testing.assert_array_equal(got[1], beta)


def test_parasitized_cells_are_re_rendered_at_their_own_rate_and_into_mixed_stains() -> None:
    pink, blue = _disc(48, (230, 160, 170)), _disc(48, (150, 150, 210))
    crops = np.stack([pink] * 8 + [blue] * 8)
    roots, labels = np.r_[np.zeros(8, int), np.ones(8, int)], np.zeros(16, int)
    transfer = ColourTransfer(crops, labels, roots, p=0.0, seed=0, p_parasitized=1.0, spread=0.5)
    batch, batch_roots = np.stack([pink] * 16), np.zeros(16, int)
    batch_labels = np.r_[np.ones(8), np.zeros(8)].astype(np.float32)[:, None]
    out = transfer(batch, batch_roots, np.int64(3), batch_labels)
    assert np.array_equal(out[8:], batch[8:])  # uninfected: p = 0
    assert all(not np.array_equal(o, pink) for o in out[:8])  # parasitized: p = 1
    assert np.array_equal(out, transfer(batch, batch_roots, np.int64(3), batch_labels))  # seeded
    # mixing between/beyond the labs gives more than the two labs' own colours
    b_star = {round(float(o[24, 24].astype(int) @ (1, 1, 1))) for o in out[:8]}
    assert len(b_star) > 2
    assert np.all(out[:, 0, 0] == 0)  # background stays black


def test_rendering_at_a_smaller_native_side_loses_detail_and_keeps_the_crop_convention() -> None:
    cell = _disc(130, (220, 150, 160), dot=True)
    direct = crop_cell(cell, (0, 0, 130, 130), None, 48)
    same = at_native_side(cell.copy(), 130, 48)
    small = at_native_side(cell.copy(), 30, 48)
    np.testing.assert_array_equal(same, direct)  # a side >= the crop's own: nothing changes
    assert small.shape == (48, 48, 3) and small.dtype == np.uint8
    assert np.all(small[0, 0] == 0) and np.all(small[24, 24] > 0)  # black background, cell kept
    dot = direct.astype(int).sum(axis=2).min(), small.astype(int).sum(axis=2)[small.max(axis=2) > 0].min()
    assert dot[1] > dot[0]  # the dot is blurred into its cell at the small side: less dark than at full size


def test_transfer_threshold_lowers_the_slide_rule_for_missed_foreign_parasites_but_not_past_the_ceiling() -> None:
    rng = np.random.default_rng(0)
    healthy = rng.uniform(0.0, 0.8, 2000)
    infected = rng.uniform(0.5, 1.0, 500)
    labels = np.r_[np.zeros(2000), np.ones(500)].astype(int)
    probs = np.r_[healthy, infected]
    patients = ["C1"] * 1000 + ["C2"] * 1000 + ["C3"] * 500
    strict, _, _ = slide_threshold(labels, probs, patients, 0.005)
    floor, _, _ = slide_threshold(labels, probs, patients, 0.01)
    assert floor < strict
    easy = {"lab": rng.uniform(0.9, 1.0, 300)}  # foreign parasites found at the strict threshold already
    t, rule, shares, found = transfer_threshold(labels, probs, patients, easy)
    assert t == strict and found["lab"] >= 0.9 and "foreign lab" in rule
    hard = {"lab": rng.uniform(0.2, 0.9, 300)}  # would need a threshold far below the healthy ceiling
    t, _, shares, found = transfer_threshold(labels, probs, patients, hard)
    assert t == floor and max(shares.values()) <= 0.01 and found["lab"] < 0.9
    middle = {"lab": np.r_[np.full(270, 0.795), np.full(30, 0.1)]}  # 90 % found just below strict
    t, _, _, found = transfer_threshold(labels, probs, patients, middle)
    assert floor <= t < strict and found["lab"] >= 0.9


def test_native_size_resamples_each_cell_at_its_class_rate_and_keeps_the_background() -> None:
    cells = np.stack([_disc(48, (220, 150, 160), dot=True)] * 32)
    labels = np.r_[np.ones(16), np.zeros(16)].astype(np.float32)[:, None]
    out = NativeSize(p=0.0, seed=0, p_parasitized=1.0, min_side=16)(cells, np.int64(2), labels)
    changed = (out != cells).any(axis=(1, 2, 3))
    assert changed[:16].all() and not changed[16:].any()
    np.testing.assert_array_equal(out.max(axis=3) == 0, cells.max(axis=3) == 0)  # same cell mask, black outside
    inside = cells.max(axis=3) > 0
    darkest = [o.astype(int).sum(axis=2)[m].min() for o, m in zip(out[:16], inside[:16], strict=True)]
    assert np.mean(darkest) > cells.astype(int).sum(axis=3)[inside].min()  # the dot is softened on average
    again = NativeSize(p=0.0, seed=0, p_parasitized=1.0, min_side=16)(cells, np.int64(2), labels)
    np.testing.assert_array_equal(out, again)


def test_a_lab_of_parasitized_cells_only_is_not_a_healthy_group() -> None:
    from training.operating_point import healthy_groups

    labels = np.r_[np.zeros(4), np.ones(4), np.zeros(3), np.ones(3)].astype(int)
    patients = ["C1"] * 4 + ["mpidb:s1"] * 4 + ["chula:f1"] * 3 + ["C2"] * 3
    masks = healthy_groups(labels, patients)
    assert set(masks) == {"nih healthy patients", "chula"}
    assert masks["chula"].sum() == 3 and masks["nih healthy patients"].sum() == 4
