"""Gradients by ONNX Runtime: the classifier's graph plus its hand-written backward pass, as one ONNX model.

Why: the app already ships ONNX Runtime, whose convolutions are an order of magnitude faster than
NumPy's im2col on a 2-core PC (docs/calibration.md). ORT's own training packages stopped at 1.19, but
the eight operators of our exported graphs all have backward passes made of ordinary inference operators
(Conv's data gradient is ConvTranspose, its weight gradient a Conv with batch and channels swapped,
MaxPool's is MaxUnpool at the saved indices), so the inference runtime can compute the gradients itself.

The gradient model takes the crops, soft targets and per-cell weights plus every parameter as inputs
and returns the weighted binary cross-entropy and one gradient per parameter. ``net.Net``
validated the chain; the NumPy forward/backward there is the reference the tests compare against.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from malaria_desktop.core.calibration.net import Net

OPSET = 17


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"g{self._n}_{hint}"

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        """One node with one output; returns the output's name."""
        return self.ops(op_type, inputs, 1, **attrs)[0]

    def ops(self, op_type: str, inputs: list[str], n_out: int, **attrs: Any) -> list[str]:
        """One node with ``n_out`` outputs (MaxPool's values and indices)."""
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs


def _forward(b: _Builder, net: Net, x_nhwc: str) -> tuple[str, list[tuple]]:
    """Forward nodes in NCHW like the original graph; returns the logit (N,) name and per-layer tapes."""
    x = b.op("Transpose", [x_nhwc], perm=[0, 3, 1, 2])
    tapes: list[tuple] = []  # (layer, input, output, MaxPool indices or None)
    for layer in net.layers:
        if layer.op == "Conv":
            y = b.op("Conv", [x, *layer.params], kernel_shape=list(net.params[layer.params[0]].shape[2:]),
                     pads=[layer.attrs["pad"]] * 4)
        elif layer.op == "Relu":
            y = b.op("Relu", [x])
        elif layer.op == "MaxPool":
            y, idx = b.ops("MaxPool", [x], 2, kernel_shape=[2, 2], strides=[2, 2])
            tapes.append((layer, x, y, idx))
            x = y
            continue
        elif layer.op == "GlobalAveragePool":
            y = b.op("GlobalAveragePool", [x])
        elif layer.op == "Flatten":
            y = b.op("Flatten", [x], axis=layer.attrs.get("axis", 1))
        else:  # Gemm
            y = b.op("Gemm", [x, *layer.params], transB=layer.attrs.get("transB", 0))
        tapes.append((layer, x, y, None))
        x = y
    return b.op("Reshape", [x, b.const([-1], np.int64)]), tapes


def _loss(b: _Builder, z: str) -> tuple[str, str]:
    """Weighted BCE on logits: sum(w * (softplus(z) - t*z)); dL/dz = w * (sigmoid(z) - t)."""
    soft = b.op("Softplus", [z])
    tz = b.op("Mul", ["target", z])
    loss = b.op("ReduceSum", [b.op("Mul", ["weight", b.op("Sub", [soft, tz])]), b.const([0], np.int64)], keepdims=0)
    dz = b.op("Mul", ["weight", b.op("Sub", [b.op("Sigmoid", [z]), "target"])])
    return loss, b.op("Unsqueeze", [dz, b.const([1], np.int64)])


def _backward_layer(b: _Builder, net: Net, tape: tuple, d: str, grads: dict, need_dx: bool) -> str | None:
    layer, x, y, idx = tape
    if layer.op == "Relu":
        return b.op("Mul", [d, b.op("Cast", [b.op("Greater", [y, b.const(0.0)])], to=TensorProto.FLOAT)])
    if layer.op == "MaxPool":
        return b.op("MaxUnpool", [d, idx, b.op("Shape", [x])], kernel_shape=[2, 2], strides=[2, 2])
    if layer.op == "GlobalAveragePool":
        area = b.op("ReduceProd", [b.op("Cast", [b.op("Slice", [b.op("Shape", [x]), b.const([2], np.int64),
                                                                   b.const([4], np.int64)])], to=TensorProto.FLOAT)],
                    keepdims=0)
        return b.op("Expand", [b.op("Div", [d, area]), b.op("Shape", [x])])
    if layer.op == "Flatten":
        return b.op("Reshape", [d, b.op("Shape", [x])])
    if layer.op == "Gemm":
        trans = layer.attrs.get("transB", 0)
        w_name = layer.params[0]
        grads[w_name] = b.op("Gemm", [d, x], transA=1) if trans else b.op("Gemm", [x, d], transA=1)
        if len(layer.params) > 1:
            grads[layer.params[1]] = b.op("ReduceSum", [d, b.const([0], np.int64)], keepdims=0)
        return b.op("Gemm", [d, w_name], transB=0 if trans else 1) if need_dx else None
    # Conv, stride 1, symmetric pads
    w_name = layer.params[0]
    k = net.params[w_name].shape[2]
    pad = layer.attrs["pad"]
    x_t = b.op("Transpose", [x], perm=[1, 0, 2, 3])  # (C, N, H, W): the batch becomes the channels
    d_t = b.op("Transpose", [d], perm=[1, 0, 2, 3])  # (O, N, H', W') used as the kernel
    gw = b.op("Conv", [x_t, d_t], pads=[pad] * 4)  # (C, O, k, k)
    grads[w_name] = b.op("Transpose", [gw], perm=[1, 0, 2, 3])
    if len(layer.params) > 1:
        grads[layer.params[1]] = b.op("ReduceSum", [d, b.const([0, 2, 3], np.int64)], keepdims=0)
    if not need_dx:
        return None
    return b.op("ConvTranspose", [d, w_name], kernel_shape=[k, k], pads=[pad] * 4)


def gradient_model(net: Net) -> onnx.ModelProto:
    """Inputs: ``input`` (N,S,S,3) scaled crops, ``target`` (N,), ``weight`` (N,), every parameter.

    Outputs: ``loss`` (scalar), ``logit`` (N,) and ``grad:<param>`` for each parameter.
    """
    b = _Builder()
    z, tapes = _forward(b, net, "input")
    loss, d = _loss(b, z)
    grads: dict[str, str] = {}
    for i, tape in enumerate(reversed(tapes)):
        dx = _backward_layer(b, net, tape, d, grads, need_dx=i < len(tapes) - 1)
        if dx is None:  # the first layer: no gradient flows further back
            break
        d = dx
    b.nodes.append(helper.make_node("Identity", [z], ["logit"]))
    b.nodes.append(helper.make_node("Identity", [loss], ["loss"]))
    outputs = [helper.make_tensor_value_info("loss", TensorProto.FLOAT, []),
               helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N"])]
    for name in net.trainable:
        b.nodes.append(helper.make_node("Identity", [grads[name]], [f"grad:{name}"]))
        outputs.append(helper.make_tensor_value_info(f"grad:{name}", TensorProto.FLOAT, list(net.params[name].shape)))
    size = None  # the batch and image size stay dynamic
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", size, size, 3]),
              helper.make_tensor_value_info("target", TensorProto.FLOAT, ["N"]),
              helper.make_tensor_value_info("weight", TensorProto.FLOAT, ["N"])]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(net.params[n].shape)) for n in net.trainable]
    graph = helper.make_graph(b.nodes, "calibration_gradients", inputs, outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="malaria-desktop")
    model.ir_version = 8
    return model
