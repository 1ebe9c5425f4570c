"""A tiny "not a red cell" ONNX model built at test time (no TensorFlow), following the app's contract.

It reads what the real model mostly reads, size relative to the field's cells: in a context crop
(``core.classification.not_a_cell.context_crop``, ``SPAN`` cell diameters across) a red cell covers about
pi / (4 * SPAN^2) ~ 0.2 of the square; a platelet or a speck far less. P(not a cell) =
sigmoid(GAIN * (FILL - covered share)). ``constant`` = 0 or 1 gives a model that calls nothing / everything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from malaria_desktop.core.classification.not_a_cell import CARD_FILE, ONNX_FILE

FILL = 0.08
GAIN = 80.0


def build(size: int = 32, constant: float | None = None) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", size, size, 3])
    y = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1])
    c = lambda name, v: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    inits = [c("dark", 0.01), c("fill", FILL), c("gain", GAIN if constant is None else 0.0),
             c("bias", 0.0 if constant is None else (20.0 if constant >= 0.5 else -20.0)),
             numpy_helper.from_array(np.array([-1, 1], np.int64), "shape")]
    n = helper.make_node
    nodes = [
        n("Greater", ["input", "dark"], ["on_b"]),
        n("Cast", ["on_b"], ["on"], to=TensorProto.FLOAT),
        n("ReduceMean", ["on"], ["share4"], axes=[1, 2, 3], keepdims=1),
        n("Reshape", ["share4", "shape"], ["share"]),
        n("Sub", ["fill", "share"], ["margin"]),
        n("Mul", ["margin", "gain"], ["logit0"]),
        n("Add", ["logit0", "bias"], ["logit"]),
        n("Sigmoid", ["logit"], ["prob"]),
    ]
    graph = helper.make_graph(nodes, "tiny_not_a_cell", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_tiny_not_a_cell(folder: Path, *, constant: float | None = None, threshold: float = 0.5,
                          size: int = 32) -> Path:
    """Add ``not_a_cell.onnx`` + its card to a model folder; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(build(size, constant), str(folder / ONNX_FILE))
    card = {"format_version": 1, "name": "tiny-not-a-cell", "onnx_file": ONNX_FILE, "input_size": size,
            "preprocessing": {"scale": 1.0 / 255.0}, "threshold": threshold}
    (folder / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    return folder
