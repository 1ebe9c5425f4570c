"""A trainable NumPy twin of the exported classifier graph: forward, backward, Adam, and back to ONNX.

Why NumPy (docs/calibration.md has the measurements): ONNX Runtime's training packages stopped at 1.19
and cannot sit beside the app's ``onnxruntime``; JAX adds ~490 MB; tinygrad needs a C compiler at run
time. The graphs ``training/onnx_export.py`` writes use eight operators (Transpose, Conv, Relu, MaxPool,
GlobalAveragePool, Flatten, Gemm, Sigmoid) in a chain, so their gradients fit in this one module, run on
NumPy's BLAS, and add nothing to the bundle but the ``onnx`` package that reads and writes the weights.

Tensors are kept NHWC (the model's input layout): the leading Transpose to NCHW is absorbed, Conv and
pooling work on NHWC storage with the ONNX (NCHW) weights converted once. Any other graph shape raises
``UnsupportedModel`` with the operator that stopped it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from malaria_desktop.core.errors import MalariaDesktopError


class UnsupportedModel(MalariaDesktopError):
    """The model's graph uses something this trainer cannot differentiate."""


@dataclass
class _Layer:
    op: str
    inputs: list[str]
    output: str
    params: list[str] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pads_ok(attrs: dict, k: int) -> int:
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(set(pads)) != 1 or attrs.get("strides", [1, 1]) != [1, 1] or attrs.get("dilations", [1, 1]) != [1, 1]:
        raise UnsupportedModel(f"Conv with pads {pads} / strides {attrs.get('strides')} cannot be calibrated.")
    if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedModel("grouped or auto-padded Conv cannot be calibrated.")
    return int(pads[0])


class Net:
    """The chain of layers plus its float32 parameters (ONNX layouts), keyed by initializer name."""

    def __init__(self, model: onnx.ModelProto):
        graph = model.graph
        self.model = model
        self.params: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t).astype(np.float32).copy()
                                              for t in graph.initializer}
        self.input_name = graph.input[0].name
        self.layers: list[_Layer] = []
        self.logit_name = ""
        current = self.input_name
        for node in graph.node:
            if len(node.output) != 1 or node.input[0] != current:
                raise UnsupportedModel(f"the graph is not a simple chain at {node.op_type} '{node.name}'.")
            attrs = _attrs(node)
            if node.op_type == "Transpose" and current == self.input_name:
                if list(attrs.get("perm", [])) != [0, 3, 1, 2]:
                    raise UnsupportedModel("the input Transpose is not NHWC -> NCHW.")
            elif node.op_type == "Sigmoid":
                self.logit_name = current
            elif node.op_type in ("Conv", "Gemm"):
                self.layers.append(_Layer(node.op_type, list(node.input), node.output[0], list(node.input[1:]), attrs))
            elif node.op_type in ("Relu", "MaxPool", "GlobalAveragePool", "Flatten"):
                self.layers.append(_Layer(node.op_type, [current], node.output[0], [], attrs))
            else:
                raise UnsupportedModel(f"operator {node.op_type} is not supported by the calibration trainer.")
            if node.op_type == "Sigmoid" and node.output[0] != graph.output[0].name:
                raise UnsupportedModel("Sigmoid must be the graph's last operator.")
            current = node.output[0]
        if not self.logit_name or not self.layers:
            raise UnsupportedModel("the model has no sigmoid output; only sigmoid models can be calibrated.")
        for layer in self.layers:
            if layer.op == "Conv":
                w = self.params[layer.params[0]]
                if w.shape[2] != w.shape[3]:
                    raise UnsupportedModel("non-square Conv kernels cannot be calibrated.")
                layer.attrs["pad"] = _pads_ok(layer.attrs, w.shape[2])
            elif layer.op == "MaxPool":
                k, s = layer.attrs.get("kernel_shape"), layer.attrs.get("strides")
                if k != [2, 2] or s != [2, 2] or any(layer.attrs.get("pads", [0])):
                    raise UnsupportedModel("only 2x2/2 MaxPool can be calibrated.")
            elif layer.op == "Gemm":
                attrs = layer.attrs
                if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                    raise UnsupportedModel("Gemm with transA/alpha/beta cannot be calibrated.")

    @property
    def trainable(self) -> list[str]:
        return [p for layer in self.layers for p in layer.params]

    # -- forward / backward -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, keep: bool = False) -> tuple[np.ndarray, list]:
        """Logits ``(N,)`` for float32 NHWC input; with ``keep`` also the caches backward needs."""
        caches: list = []
        for layer in self.layers:
            x, cache = _FORWARD[layer.op](self, layer, x, keep)
            caches.append(cache)
        return x.reshape(-1), caches

    def backward(self, dlogit: np.ndarray, caches: list) -> dict[str, np.ndarray]:
        """Gradients of the loss for every parameter, given dLoss/dlogit ``(N,)``."""
        grads: dict[str, np.ndarray] = {}
        d = dlogit.reshape(-1, 1).astype(np.float32)
        for layer, cache in zip(reversed(self.layers), reversed(caches), strict=False):
            d = _BACKWARD[layer.op](self, layer, d, cache, grads)
        return grads

    def to_onnx(self) -> onnx.ModelProto:
        """A copy of the original graph with the current parameters as initializers."""
        out = onnx.ModelProto()
        out.CopyFrom(self.model)
        for tensor in out.graph.initializer:
            if tensor.name in self.params:
                tensor.CopyFrom(numpy_helper.from_array(self.params[tensor.name].astype(np.float32), tensor.name))
        return out


def _conv_matrix(w: np.ndarray) -> np.ndarray:
    """ONNX (O, C, k, k) -> im2col matrix (k*k*C, O) for NHWC columns ordered (ky, kx, c)."""
    o, c, k, _ = w.shape
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(k * k * c, o))


def _im2col(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    cols = np.empty((n, ho, wo, k, k, c), np.float32)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, i, j, :] = xp[:, i:i + ho, j:j + wo, :]
    return cols.reshape(n * ho * wo, k * k * c)


def _conv_f(net: Net, layer: _Layer, x: np.ndarray, keep: bool):
    w = net.params[layer.params[0]]
    k, pad = w.shape[2], layer.attrs["pad"]
    n, h, wd, _ = x.shape
    cols = _im2col(x, k, pad)
    y = cols @ _conv_matrix(w)
    if len(layer.params) > 1:
        y += net.params[layer.params[1]]
    ho, wo = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    return y.reshape(n, ho, wo, w.shape[0]), ((cols, x.shape) if keep else None)


def _conv_b(net: Net, layer: _Layer, d: np.ndarray, cache, grads: dict) -> np.ndarray:
    cols, xshape = cache
    w = net.params[layer.params[0]]
    o, c, k, _ = w.shape
    pad = layer.attrs["pad"]
    d2 = d.reshape(-1, o)
    gw = (cols.T @ d2).reshape(k, k, c, o).transpose(3, 2, 0, 1)
    grads[layer.params[0]] = np.ascontiguousarray(gw)
    if len(layer.params) > 1:
        grads[layer.params[1]] = d2.sum(axis=0)
    n, h, wd, _ = xshape
    ho, wo = d.shape[1], d.shape[2]
    dcols = (d2 @ _conv_matrix(w).T).reshape(n, ho, wo, k, k, c)
    dxp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), np.float32)
    for i in range(k):
        for j in range(k):
            dxp[:, i:i + ho, j:j + wo, :] += dcols[:, :, :, i, j, :]
    return dxp[:, pad:pad + h, pad:pad + wd, :] if pad else dxp


def _relu_f(net, layer, x, keep):
    y = np.maximum(x, 0)
    return y, ((y > 0) if keep else None)


def _relu_b(net, layer, d, cache, grads):
    return d * cache


def _pool_f(net, layer, x, keep):
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    blocks = x[:, :h2 * 2, :w2 * 2, :].reshape(n, h2, 2, w2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h2, w2, c, 4)
    arg = blocks.argmax(axis=-1)
    y = np.take_along_axis(blocks, arg[..., None], axis=-1)[..., 0]
    return y, ((arg, x.shape) if keep else None)


def _pool_b(net, layer, d, cache, grads):
    arg, shape = cache
    n, h, w, c = shape
    h2, w2 = h // 2, w // 2
    blocks = np.zeros((n, h2, w2, c, 4), np.float32)
    np.put_along_axis(blocks, arg[..., None], d[..., None], axis=-1)
    dx = np.zeros(shape, np.float32)
    unpooled = blocks.reshape(n, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    dx[:, :h2 * 2, :w2 * 2, :] = unpooled.reshape(n, h2 * 2, w2 * 2, c)
    return dx


def _gap_f(net, layer, x, keep):
    return x.mean(axis=(1, 2)), (x.shape if keep else None)


def _gap_b(net, layer, d, shape, grads):
    n, h, w, c = shape
    return np.broadcast_to((d / (h * w))[:, None, None, :], shape).astype(np.float32)


def _flatten_f(net, layer, x, keep):
    return x.reshape(len(x), -1), (x.shape if keep else None)


def _flatten_b(net, layer, d, shape, grads):
    return d.reshape(shape)


def _gemm_f(net, layer, x, keep):
    w = net.params[layer.params[0]]
    y = x @ (w.T if layer.attrs.get("transB", 0) else w)
    if len(layer.params) > 1:
        y = y + net.params[layer.params[1]]
    return y.astype(np.float32), (x if keep else None)


def _gemm_b(net, layer, d, x, grads):
    w = net.params[layer.params[0]]
    trans = layer.attrs.get("transB", 0)
    gw = x.T @ d
    grads[layer.params[0]] = gw.T if trans else gw
    if len(layer.params) > 1:
        b = net.params[layer.params[1]]
        grads[layer.params[1]] = d.sum(axis=0).reshape(b.shape)
    return d @ (w if trans else w.T)


_FORWARD = {"Conv": _conv_f, "Relu": _relu_f, "MaxPool": _pool_f, "GlobalAveragePool": _gap_f,
            "Flatten": _flatten_f, "Gemm": _gemm_f}
_BACKWARD = {"Conv": _conv_b, "Relu": _relu_b, "MaxPool": _pool_b, "GlobalAveragePool": _gap_b,
             "Flatten": _flatten_b, "Gemm": _gemm_b}


class Adam:
    """Adam with a pull towards anchor weights (L2-SP: ``grad += pull * (w - w_anchor)``)."""

    def __init__(self, params: dict[str, np.ndarray], names: list[str], lr: float, pull: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-7):
        self.params, self.names, self.lr, self.pull = params, names, lr, pull
        self.anchor = {n: params[n].copy() for n in names}
        self.m = {n: np.zeros_like(params[n]) for n in names}
        self.v = {n: np.zeros_like(params[n]) for n in names}
        self.b1, self.b2, self.eps, self.t = betas[0], betas[1], eps, 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for n in self.names:
            g = grads[n] + self.pull * (self.params[n] - self.anchor[n])
            self.m[n] = self.b1 * self.m[n] + (1 - self.b1) * g
            self.v[n] = self.b2 * self.v[n] + (1 - self.b2) * g * g
            self.params[n] -= (self.lr * (self.m[n] / c1) / (np.sqrt(self.v[n] / c2) + self.eps)).astype(np.float32)
