"""The model contract: ``model_card.json`` beside ``model.onnx`` says how to feed and read the model.

The loader validates every field the app relies on and names what is wrong, so a broken or mismatched
model directory produces an actionable message instead of a traceback (keras-hub's metadata habit).

Contract (format_version 1)::

    {
      "format_version": 1,
      "name": "malaria-vgg16-w0.25-bn-64",
      "architecture": "VGG16 (config D) ...",          # free text for the About dialog
      "input_size": 64,                                # square side in pixels
      "preprocessing": {"crop": "crop_cell", "scale": 0.00392156862745098,
                        "channel_order": "RGB", "layout": "NHWC"},
      "output": {"kind": "sigmoid"},                   # (N,1) P(parasitized); or "softmax" (N,2)
      "class_names": ["uninfected", "parasitized"],    # index order of a softmax output
      "threshold": 0.5,                                # P(parasitized) >= threshold -> parasitized
      "onnx_file": "model.onnx",
      ... anything else (training data, metrics, versions, command) is kept in ``extra``.
    }

Model input: float32 NHWC RGB crops from ``crops.crop_cell`` multiplied by ``preprocessing.scale``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from malaria_desktop.core.errors import ModelError

CARD_FILE = "model_card.json"
FORMAT_VERSION = 1
POSITIVE_CLASS = "parasitized"
NEGATIVE_CLASS = "uninfected"


@dataclass(frozen=True)
class ModelCard:
    """Validated view of ``model_card.json``; unknown keys stay available in ``extra``."""

    name: str
    architecture: str
    input_size: int
    scale: float
    output_kind: Literal["sigmoid", "softmax"]
    class_names: tuple[str, ...]
    threshold: float
    onnx_file: str = "model.onnx"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def positive_index(self) -> int:
        """Column of P(parasitized) in a softmax output."""
        return self.class_names.index(POSITIVE_CLASS)


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in data:
        raise ModelError(f"Model card {where} has no '{key}' field. Re-export the model with the training module.")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ModelError(f"Model card {where}: '{key}' has the wrong type ({type(value).__name__}).")
    return value


def parse_model_card(data: dict[str, Any], where: Path = Path(CARD_FILE)) -> ModelCard:
    """Validate a decoded card; raise ModelError naming the first problem."""
    if not isinstance(data, dict):
        raise ModelError(f"Model card {where} must be a JSON object.")
    version = _require(data, "format_version", int, where)
    if version != FORMAT_VERSION:
        raise ModelError(
            f"Model card {where} has format_version {version}; this app reads version {FORMAT_VERSION}. "
            "Use a model exported for this version of Malaria Desktop."
        )
    input_size = _require(data, "input_size", int, where)
    if not 8 <= input_size <= 512:
        raise ModelError(f"Model card {where}: input_size {input_size} is outside 8..512 pixels.")
    pre = _require(data, "preprocessing", dict, where)
    scale = _require(pre, "scale", (int, float), where)
    if not 0 < scale <= 1:
        raise ModelError(f"Model card {where}: preprocessing.scale {scale} must be in (0, 1].")
    output = _require(data, "output", dict, where)
    kind = _require(output, "kind", str, where)
    if kind not in ("sigmoid", "softmax"):
        raise ModelError(f"Model card {where}: output.kind must be 'sigmoid' or 'softmax', not '{kind}'.")
    names = tuple(_require(data, "class_names", list, where))
    if sorted(names) != sorted((NEGATIVE_CLASS, POSITIVE_CLASS)):
        raise ModelError(f"Model card {where}: class_names must be {NEGATIVE_CLASS!r} and {POSITIVE_CLASS!r}, got {list(names)}.")
    threshold = _require(data, "threshold", (int, float), where)
    if not 0 < threshold < 1:
        raise ModelError(f"Model card {where}: threshold {threshold} must be between 0 and 1.")
    known = {"format_version", "input_size", "preprocessing", "output", "class_names", "threshold",
             "name", "architecture", "onnx_file"}
    return ModelCard(
        name=str(data.get("name", "unnamed model")),
        architecture=str(data.get("architecture", "unknown")),
        input_size=input_size,
        scale=float(scale),
        output_kind=kind,  # type: ignore[arg-type]
        class_names=names,
        threshold=float(threshold),
        onnx_file=str(data.get("onnx_file", "model.onnx")),
        extra={k: v for k, v in data.items() if k not in known},
    )


def load_model_card(model_dir: Path) -> ModelCard:
    """Read and validate ``model_dir/model_card.json``."""
    model_dir = Path(model_dir)
    path = model_dir / CARD_FILE
    if not model_dir.is_dir():
        raise ModelError(f"Model folder {model_dir} does not exist. Pass --model DIR or reinstall the app.")
    if not path.is_file():
        raise ModelError(f"{model_dir} has no {CARD_FILE}; it is not a Malaria Desktop model folder.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"Model card {path} cannot be read ({exc}). Re-export or reinstall the model.") from exc
    return parse_model_card(data, path)
