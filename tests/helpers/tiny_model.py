"""A tiny but meaningful ONNX model built at test time with the ``onnx`` helper API (no TensorFlow).

It follows the model contract (``core/model_card.py``): float32 NHWC RGB input scaled by 1/255, dynamic
batch dimension, output ``(N, 1)`` sigmoid or ``(N, 2)`` softmax. It is a hand-wired "parasite detector":
per pixel it scores how *dark purple* the pixel is (blue clearly above green AND red well below that of a
pink red cell), takes the maximum over the crop and squashes it, so

- a pink red blood cell (R high, B ~ G) or the black background outside the cell mask -> P ~ 0.05,
- a crop containing a dark purple ring/dot (Giemsa-stained parasite chromatin) -> P ~ 1.

That lets pipeline/GUI/CLI tests assert that synthetic parasitized cells are actually detected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# Feature f = min(relu(B - G - PURPLE_MIN), relu(DARK_MAX - R)); logit = GAIN * (max_pixels f - OFFSET).
PURPLE_MIN = 0.10
DARK_MAX = 0.72
GAIN = 120.0
OFFSET = 0.025


def _graph(input_size: int, kind: Literal["sigmoid", "softmax"], channels: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", input_size, input_size, channels])
    weights = np.zeros((channels, 2), np.float32)
    if channels >= 3:
        weights[:3] = [[0.0, -1.0], [-1.0, 0.0], [1.0, 0.0]]  # columns: B - G, -R
    inits = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(np.array([-PURPLE_MIN, DARK_MAX], np.float32), "b"),
        numpy_helper.from_array(np.array(GAIN, np.float32), "gain"),
        numpy_helper.from_array(np.array(OFFSET, np.float32), "offset"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["feat"]),
        helper.make_node("Add", ["feat", "b"], ["feat_b"]),
        helper.make_node("Relu", ["feat_b"], ["feat_r"]),
        helper.make_node("ReduceMin", ["feat_r"], ["pix"], axes=[3], keepdims=1),  # (N,H,W,1)
        helper.make_node("ReduceMax", ["pix"], ["peak"], axes=[1, 2, 3], keepdims=0),  # (N,)
        helper.make_node("Reshape", ["peak", "flat"], ["peak2"]),  # (N,1)
        helper.make_node("Sub", ["peak2", "offset"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
    ]
    if kind == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["logit"], ["output"]))
        out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1])
    elif kind == "softmax":
        inits.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
        nodes += [
            helper.make_node("Mul", ["logit", "half"], ["pos"]),
            helper.make_node("Neg", ["pos"], ["neg"]),
            helper.make_node("Concat", ["neg", "pos"], ["pair"], axis=1),  # [uninfected, parasitized]
            helper.make_node("Softmax", ["pair"], ["output"], axis=1),
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
        "architecture": "hand-wired dark-purple detector (tests only)",
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
    """NumPy twin of the ONNX graph (P(parasitized) for uint8 NHWC crops), for checking the runtime."""
    x = crops.astype(np.float32) / 255.0
    purple = np.maximum(x[..., 2] - x[..., 1] - PURPLE_MIN, 0)
    dark = np.maximum(DARK_MAX - x[..., 0], 0)
    peak = np.minimum(purple, dark).reshape(len(x), -1).max(axis=1)
    return (1.0 / (1.0 + np.exp(-GAIN * (peak - OFFSET)))).astype(np.float32)
