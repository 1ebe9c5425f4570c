"""Test material for calibration: generated cells, a "foreign lab" colour version, a tiny trainable VGG.

- ``synthetic_cells``: red cells cut from ``core.synthetic`` fields by their ground truth (ellipse masks)
  with the app's ``crop_cell``; label 1 = parasitized; one field per seed.
- ``foreign``: the same cells re-rendered (``training.stain``) in a bluish-grey colour statistic, as a
  lab with another stain and lamp would show them.
- ``tiny_vgg``: a small network in the exact layout ``training/onnx_export.py`` writes (Transpose, Conv,
  Relu, MaxPool, GlobalAveragePool, Flatten, Gemm, Sigmoid), randomly initialised, as a model folder;
  ``pretrained_base`` trains it on home-lab cells with the calibration trainer itself (a few seconds).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.synthetic import generate_smear

SIZE = 32


def synthetic_cells(seeds: range | list[int], size: int = SIZE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    crops, labels, fields = [], [], []
    for seed in seeds:
        smear = generate_smear(seed, 480, 360, cell_diameter=40, parasitized_fraction=0.35, stain=1.0, n_wbc=0,
                               n_platelets=0)
        h, w = smear.image.shape[:2]
        for c in smear.rbcs:
            if c.on_edge or c.occluded:
                continue
            a, b = c.axes if c.axes[0] > 0 else (c.radius, c.radius)
            x0, y0 = int(c.centroid[0] - a - 2), int(c.centroid[1] - a - 2)
            x1, y1 = int(c.centroid[0] + a + 3), int(c.centroid[1] + a + 3)
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                continue
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.ellipse(mask, ((c.centroid[0] - x0, c.centroid[1] - y0), (2 * a, 2 * b), c.angle_deg), 1, -1)
            crops.append(crop_cell(smear.image, (x0, y0, x1 - x0, y1 - y0), mask.astype(bool), size))
            labels.append(int(c.parasitized))
            fields.append(f"field{seed}")
    return np.stack(crops), np.array(labels, np.int64), fields


def foreign(crops: np.ndarray, seed: int = 0) -> np.ndarray:
    """The cells in another lab's colours: L*a*b* statistics moved to a pale, bluish-grey stain."""
    from training.stain import cell_colour_stats, sample_targets, transfer_colour

    stats = cell_colour_stats(crops)
    stats = stats[np.all(np.isfinite(stats), axis=1)].copy()
    stats[:, 0] += 25  # lighter
    stats[:, 1] = 128 + (stats[:, 1] - 128) * 0.2 - 2  # hardly any magenta
    stats[:, 2] = 128 + (stats[:, 2] - 128) * 0.3 - 14  # bluish
    stats[:, 3:] *= 0.6  # weaker contrast
    ref_std = np.nanmedian(cell_colour_stats(crops)[:, 3:], axis=0)
    return transfer_colour(crops, sample_targets(stats, len(crops), seed), ref_std)


def _conv(name: str, cin: int, cout: int, rng: np.random.Generator) -> list[onnx.TensorProto]:
    w = rng.normal(0, np.sqrt(2 / (9 * cin)), (cout, cin, 3, 3)).astype(np.float32)
    return [numpy_helper.from_array(w, f"{name}_W"), numpy_helper.from_array(np.zeros(cout, np.float32), f"{name}_B")]


def tiny_vgg_model(input_size: int = SIZE, widths: tuple[int, ...] = (8, 16, 32), head: int = 16,
                   seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    n = helper.make_node
    nodes, inits = [n("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2])], []
    x, cin = "nchw", 3
    for b, cout in enumerate(widths, 1):
        name = f"block{b}_conv1"
        inits += _conv(name, cin, cout, rng)
        nodes += [n("Conv", [x, f"{name}_W", f"{name}_B"], [f"{name}_out"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  n("Relu", [f"{name}_out"], [f"{name}_relu"]),
                  n("MaxPool", [f"{name}_relu"], [f"block{b}_pool"], kernel_shape=[2, 2], strides=[2, 2])]
        x, cin = f"block{b}_pool", cout
    inits += [numpy_helper.from_array(rng.normal(0, np.sqrt(2 / cin), (cin, head)).astype(np.float32), "head_dense_W"),
              numpy_helper.from_array(np.zeros(head, np.float32), "head_dense_B"),
              numpy_helper.from_array(rng.normal(0, np.sqrt(1 / head), (head, 1)).astype(np.float32), "prob_W"),
              numpy_helper.from_array(np.zeros(1, np.float32), "prob_B")]
    nodes += [n("GlobalAveragePool", [x], ["gap_4d"]), n("Flatten", ["gap_4d"], ["gap"], axis=1),
              n("Gemm", ["gap", "head_dense_W", "head_dense_B"], ["head_dense_pre"]),
              n("Relu", ["head_dense_pre"], ["head_dense"]),
              n("Gemm", ["head_dense", "prob_W", "prob_B"], ["prob_pre"]), n("Sigmoid", ["prob_pre"], ["prob"])]
    graph = helper.make_graph(
        nodes, "tiny_vgg", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                          ["N", input_size, input_size, 3])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_model_folder(directory: Path, model: onnx.ModelProto, threshold: float = 0.5) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "model.onnx"))
    size = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    card = {"format_version": 1, "name": f"tiny-vgg-{size}", "architecture": "tiny VGG (tests only)",
            "input_size": size, "preprocessing": {"crop": "crop_cell", "scale": 1 / 255, "channel_order": "RGB",
                                                  "layout": "NHWC"},
            "output": {"kind": "sigmoid"}, "class_names": ["uninfected", "parasitized"], "threshold": threshold,
            "onnx_file": "model.onnx", "metrics": {"test": {"note": "tests only"}}}
    (directory / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return directory


def pretrained_base(directory: Path, crops: np.ndarray, labels: np.ndarray) -> Path:
    """Train the tiny VGG on home-lab cells (the calibration trainer, no pull) and save it as a model folder."""
    from malaria_desktop.core.calibration.train import FitOptions, Trainer, choose_threshold

    trainer = Trainer(tiny_vgg_model(crops.shape[1]), 1 / 255)
    fit = trainer.fit(crops, labels, np.zeros(len(labels), np.float32),
                      FitOptions(epochs=40, min_steps=800, learning_rate=3e-3, pull=0.0, distill=0.0))
    try:
        while True:
            next(fit)
    except StopIteration as stop:
        net = stop.value
    model = net.to_onnx()
    threshold = choose_threshold(trainer.predict(model, crops), labels, 0.9)
    return write_model_folder(directory, model, threshold)
