"""Keras VGG16 classifier -> ONNX, written with the ``onnx`` helper API for this fixed architecture.

Why not tf2onnx / ``model.export(format="onnx")``: the converter chain drifts with every TF/Keras/
protobuf release; this network is 13 convs, 5 pools, a pool and two dense layers, so a direct writer
is short, deterministic, folds batch norm into the convs (fewer ops, faster ONNX Runtime) and keeps
the app's input contract explicit: float32 NHWC RGB ``crop_cell(...) * scale`` -> (N, 1) P(parasitized).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "prob"


def _fold_conv(conv: keras.layers.Conv2D, bn: keras.layers.BatchNormalization | None) -> tuple[np.ndarray, np.ndarray]:
    """Conv kernel (HWIO) + optional bias + optional BN -> ONNX weight (OIHW) and bias."""
    params = conv.get_weights()
    kernel = params[0].astype(np.float64)
    bias = params[1].astype(np.float64) if conv.use_bias else np.zeros(kernel.shape[-1])
    if bn is not None:
        gamma, beta, mean, var = (w.astype(np.float64) for w in bn.get_weights())
        scale = gamma / np.sqrt(var + bn.epsilon)
        kernel = kernel * scale
        bias = (bias - mean) * scale + beta
    return kernel.transpose(3, 2, 0, 1).astype(np.float32), bias.astype(np.float32)


def _group_norm(gn: keras.layers.GroupNormalization, cur: str, name: str) -> tuple[list, list, str]:
    """GroupNorm as ONNX opset-17 ops: reshape to (N, groups, -1), InstanceNormalization, reshape, scale, shift."""
    gamma, beta = (w.astype(np.float32) for w in gn.get_weights())
    groups = gn.groups
    inits = [numpy_helper.from_array(np.array([0, groups, -1], np.int64), f"{name}_gshape"),
             numpy_helper.from_array(np.ones(groups, np.float32), f"{name}_ones"),
             numpy_helper.from_array(np.zeros(groups, np.float32), f"{name}_zeros"),
             numpy_helper.from_array(gamma.reshape(-1, 1, 1), f"{name}_gamma"),
             numpy_helper.from_array(beta.reshape(-1, 1, 1), f"{name}_beta")]
    nodes = [helper.make_node("Shape", [cur], [f"{name}_shape"]),
             helper.make_node("Reshape", [cur, f"{name}_gshape"], [f"{name}_grouped"]),
             helper.make_node("InstanceNormalization", [f"{name}_grouped", f"{name}_ones", f"{name}_zeros"],
                              [f"{name}_normed"], epsilon=float(gn.epsilon)),
             helper.make_node("Reshape", [f"{name}_normed", f"{name}_shape"], [f"{name}_back"]),
             helper.make_node("Mul", [f"{name}_back", f"{name}_gamma"], [f"{name}_scaled"]),
             helper.make_node("Add", [f"{name}_scaled", f"{name}_beta"], [f"{name}_gn"])]
    return nodes, inits, f"{name}_gn"


def _conv(layer: keras.layers.Conv2D, names: dict, cur: str) -> tuple[list, list, str]:
    """A 3x3 conv (its batch norm folded in, or its GroupNorm emitted after it) and its ReLU."""
    name = layer.name
    if layer.kernel_size != (3, 3) or layer.strides != (1, 1) or layer.padding != "same":
        raise ValueError(f"{name}: only 3x3 stride-1 'same' convs are supported")
    weight, bias = _fold_conv(layer, names.get(f"{name}_bn"))
    inits = [numpy_helper.from_array(weight, f"{name}_W"), numpy_helper.from_array(bias, f"{name}_B")]
    nodes = [helper.make_node("Conv", [cur, f"{name}_W", f"{name}_B"], [f"{name}_out"],
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=name)]
    pre = f"{name}_out"
    if f"{name}_gn" in names:
        gn_nodes, gn_inits, pre = _group_norm(names[f"{name}_gn"], pre, name)
        nodes += gn_nodes
        inits += gn_inits
    nodes.append(helper.make_node("Relu", [pre], [f"{name}_relu"]))
    return nodes, inits, f"{name}_relu"


def keras_to_onnx(model: keras.Model) -> onnx.ModelProto:
    """Translate a model built by ``training.model.build_vgg16`` (inference mode) to ONNX."""
    size = model.input_shape[1]
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    names = {layer.name: layer for layer in model.layers}
    cur = "nchw"
    nodes.append(helper.make_node("Transpose", [INPUT_NAME], [cur], perm=[0, 3, 1, 2]))
    for layer in model.layers:
        name = layer.name
        if isinstance(layer, keras.layers.Conv2D):
            conv_nodes, conv_inits, cur = _conv(layer, names, cur)
            nodes += conv_nodes
            inits += conv_inits
        elif isinstance(layer, keras.layers.MaxPooling2D):
            nodes.append(helper.make_node("MaxPool", [cur], [name], kernel_shape=[2, 2], strides=[2, 2], name=name))
            cur = name
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            nodes.append(helper.make_node("GlobalAveragePool", [cur], [f"{name}_4d"], name=name))
            nodes.append(helper.make_node("Flatten", [f"{name}_4d"], [name], axis=1))
            cur = name
        elif isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            inits += [numpy_helper.from_array(kernel.astype(np.float32), f"{name}_W"),
                      numpy_helper.from_array(bias.astype(np.float32), f"{name}_B")]
            out = OUTPUT_NAME if name == "prob" else name
            pre = f"{name}_pre"
            nodes.append(helper.make_node("Gemm", [cur, f"{name}_W", f"{name}_B"], [pre], name=name))
            act = layer.get_config()["activation"]
            op = {"relu": "Relu", "sigmoid": "Sigmoid"}.get(act)
            if op is None:
                raise ValueError(f"{name}: unsupported activation {act}")
            nodes.append(helper.make_node(op, [pre], [out]))
            cur = out
        elif isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout, keras.layers.BatchNormalization,
                                keras.layers.GroupNormalization, keras.layers.Activation)):
            continue  # folded into the conv, emitted with it, identity at inference, or the ReLU above
        else:
            raise ValueError(f"layer {name} ({type(layer).__name__}) is not part of the supported architecture")
    if cur != OUTPUT_NAME:
        raise ValueError("model must end in the 'prob' sigmoid dense layer")
    graph = helper.make_graph(
        nodes, model.name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", 1])],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="malaria-desktop-training")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def save_onnx(model: keras.Model, path: Path) -> Path:
    """Write ``model`` as ONNX to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(keras_to_onnx(model), str(path))
    return path
