"""A tiny but meaningful ONNX model built at test time with the ``onnx`` helper API (no TensorFlow).

It follows the model contract (``core/classification/model_card.py``): float32 NHWC RGB input scaled by 1/255, dynamic
batch dimension, output ``(N, 1)`` sigmoid or ``(N, 2)`` softmax. It is a hand-wired parasite detector
that works across stain colours because it compares each pixel with *its own cell*:

1. cell pixels = not black (the crop's outside-the-mask pixels are pure black), eroded by 3x3 so the
   blend with black at the mask border is ignored;
2. per pixel, the relative drop of the red channel below the cell's mean red
   (``1 - R / mean_R``): Giemsa chromatin absorbs red strongly, haemoglobin and cell overlaps hardly;
3. P(parasitized) = sigmoid(GAIN * (max drop - OFFSET)).

On synthetic smears (``core/synthetic.py``) this separates parasitized from uninfected cells with a
sensitivity ~1.0 and specificity ~0.98 with ground-truth masks (the false alarms are platelets lying on a
cell, as on real slides).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
CELL_MIN_SUM = 0.3  # R+G+B (scaled 0..1 each) above which a pixel belongs to the cell, not the black mask
GAIN = 25.0
OFFSET = 0.24


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32 if not isinstance(value, list) or
                                              not all(isinstance(v, int) for v in value) else np.int64), name)


def _graph(input_size: int, kind: Literal["sigmoid", "softmax"], channels: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", input_size, input_size, channels])
    red = np.zeros((channels, 1), np.float32)
    red[0, 0] = 1.0
    inits = [
        numpy_helper.from_array(red, "pick_red"),
        numpy_helper.from_array(np.ones((channels, 1), np.float32), "sum_rgb"),
        _const("cell_min", CELL_MIN_SUM),
        _const("one", 1.0),
        _const("tiny", 1e-3),
        _const("gain", GAIN),
        _const("offset", OFFSET),
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "hw_axes"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "flat"),
    ]
    n = helper.make_node
    nodes = [
        n("MatMul", ["input", "pick_red"], ["red"]),  # (N,H,W,1)
        n("MatMul", ["input", "sum_rgb"], ["brightness"]),
        n("Greater", ["brightness", "cell_min"], ["is_cell_b"]),
        n("Cast", ["is_cell_b"], ["is_cell"], to=TensorProto.FLOAT),
        # 3x3 erosion with a zero border = -maxpool(-x) on the zero-padded NCHW mask
        n("Transpose", ["is_cell"], ["is_cell_c"], perm=[0, 3, 1, 2]),
        n("Pad", ["is_cell_c", "pads"], ["padded"], mode="constant"),
        n("Neg", ["padded"], ["neg_padded"]),
        n("MaxPool", ["neg_padded"], ["neg_eroded"], kernel_shape=[3, 3], strides=[1, 1]),
        n("Neg", ["neg_eroded"], ["eroded_c"]),
        n("Transpose", ["eroded_c"], ["core"], perm=[0, 2, 3, 1]),  # (N,H,W,1), 1 inside the cell
        n("Mul", ["red", "core"], ["red_core"]),
        n("ReduceSum", ["red_core", "hw_axes"], ["red_sum"], keepdims=1),
        n("ReduceSum", ["core", "hw_axes"], ["core_n"], keepdims=1),
        n("Max", ["core_n", "one"], ["core_n1"]),
        n("Div", ["red_sum", "core_n1"], ["red_mean0"]),
        n("Max", ["red_mean0", "tiny"], ["red_mean"]),
        n("Div", ["red", "red_mean"], ["red_rel"]),
        n("Sub", ["one", "red_rel"], ["drop"]),
        n("Mul", ["drop", "core"], ["drop_core"]),
        n("Sub", ["core", "one"], ["outside"]),  # -1 outside the cell core
        n("Add", ["drop_core", "outside"], ["score"]),
        n("ReduceMax", ["score"], ["peak"], axes=[1, 2, 3], keepdims=0),
        n("Reshape", ["peak", "flat"], ["peak2"]),
        n("Sub", ["peak2", "offset"], ["centred"]),
        n("Mul", ["centred", "gain"], ["logit"]),
    ]
    if kind == "sigmoid":
        nodes.append(n("Sigmoid", ["logit"], ["output"]))
        out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1])
    elif kind == "softmax":
        inits.append(_const("half", 0.5))
        nodes += [
            n("Mul", ["logit", "half"], ["pos"]),
            n("Neg", ["pos"], ["neg"]),
            n("Concat", ["neg", "pos"], ["pair"], axis=1),  # [uninfected, parasitized]
            n("Softmax", ["pair"], ["output"], axis=1),
        ]
        out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2])
    else:
        raise ValueError(f"unknown kind {kind!r}")
    graph = helper.make_graph(nodes, "tiny_parasite_detector", [x], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8  # readable by every ONNX Runtime the project supports
    onnx.checker.check_model(model)
    return model


def tiny_card(input_size: int = 32, threshold: float = 0.5, kind: str = "sigmoid") -> dict:
    """A valid ``model_card.json`` payload for the tiny model."""
    return {
        "format_version": 1,
        "name": f"tiny-test-{kind}-{input_size}",
        "architecture": "hand-wired red-absorption parasite detector (tests only)",
        "input_size": input_size,
        "preprocessing": {"crop": "crop_cell", "scale": 1.0 / 255.0, "channel_order": "RGB", "layout": "NHWC"},
        "output": {"kind": kind},
        "class_names": ["uninfected", "parasitized"],
        "threshold": threshold,
        "onnx_file": "model.onnx",
        "training_data": {"summary": "none: built by tests/helpers/tiny_model.py"},
        "metrics": {},
    }


def make_tiny_model(
    directory: Path | str,
    input_size: int = 32,
    threshold: float = 0.5,
    kind: Literal["sigmoid", "softmax"] = "sigmoid",
    *,
    model_input_size: int | None = None,
    channels: int = 3,
) -> Path:
    """Write ``model.onnx`` + ``model_card.json`` into ``directory`` (created) and return it.

    ``model_input_size``/``channels`` let tests build a model that disagrees with its card.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = _graph(model_input_size or input_size, kind, channels)
    onnx.save(model, str(directory / "model.onnx"))
    card = tiny_card(input_size, threshold, kind)
    (directory / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    return directory


def reference_probability(crops: np.ndarray) -> np.ndarray:
    """NumPy/OpenCV twin of the ONNX graph: P(parasitized) for uint8 NHWC crops."""
    x = crops.astype(np.float32) / 255.0
    out = []
    for crop in x:
        cell = (crop.sum(axis=2) > CELL_MIN_SUM).astype(np.uint8)
        core = cv2.erode(cell, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
        mean_red = max(crop[..., 0][core].sum() / max(core.sum(), 1), 1e-3)
        score = np.where(core, 1.0 - crop[..., 0] / mean_red, -1.0)
        out.append(score.max())
    peak = np.asarray(out, np.float32)
    return (1.0 / (1.0 + np.exp(-GAIN * (peak - OFFSET)))).astype(np.float32)
