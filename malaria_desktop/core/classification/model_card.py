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
      "uncertain_band": {"low": 0.05, "high": 0.6,     # optional: probabilities in [low, high] are shown
                         "rule": "..."},               #   as uncertain; "rule" says how they were chosen
      "reference": {"version": 1, "labs": {...}, ...}, # optional: training labs' cell statistics for the
                                                       #   "unlike the training data" warning (domain_check)
      ... anything else (training data, metrics, versions, command) is kept in ``extra``.
    }

Model input: float32 NHWC RGB crops from ``crops.crop_cell`` multiplied by ``preprocessing.scale``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from malaria_desktop.core.classification.domain_check import DEFAULT_REFERENCE, Reference, parse_reference
from malaria_desktop.core.errors import ModelError

CARD_FILE = "model_card.json"
FORMAT_VERSION = 1
POSITIVE_CLASS = "parasitized"
NEGATIVE_CLASS = "uninfected"
CROP_FUNCTION = "malaria_desktop.core.classification.crops.crop_cell"  # the one crop the app makes
# Names older cards use for the same function (before core became sub-packages; short form in test cards):
# cards name their crop so a model trained on other crops is refused, and a module move must not refuse them.
CROP_ALIASES = frozenset({CROP_FUNCTION, "malaria_desktop.core.crops.crop_cell", "crop_cell"})


@dataclass(frozen=True)
class UncertainBand:
    """Probabilities in ``[low, high]`` are shown as *uncertain* (please check); ``rule`` says why these."""

    low: float
    high: float
    rule: str = ""

    def contains(self, probability: float | None) -> bool:
        return probability is not None and self.low <= probability <= self.high

    def describe(self) -> str:
        """The band in plain words for Settings and reports."""
        text = (f"Cells whose probability of being parasitized lies between {self.low:.2f} and {self.high:.2f} "
                "are marked uncertain (dotted outline) and offered first for review.")
        rule = self.rule.strip()
        if rule and rule[0].islower():  # "holds 60% of the validation errors ..." reads as a sentence
            rule = f"The band {rule}"
        if rule and not rule.endswith((".", ")")):
            rule += "."
        return f"{text} {rule}".strip()


def margin_band(threshold: float, margin: float) -> UncertainBand:
    """The fallback band when the model card names none: the threshold ± a margin."""
    return UncertainBand(max(0.0, threshold - margin), min(1.0, threshold + margin),
                         f"(No calibrated band in the model card: threshold {threshold:.2f} ± {margin:.2f}.)")


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
    uncertain: UncertainBand | None = None  # calibrated "uncertain" interval, when the card has one

    def uncertain_band(self, threshold: float | None = None, margin: float = 0.15) -> UncertainBand:
        """The card's band if it has one and the threshold is the card's; else ``threshold ± margin``.

        A band calibrated around the card's threshold says nothing about another threshold the user chose.
        """
        t = self.threshold if threshold is None else threshold
        if self.uncertain is not None and abs(t - self.threshold) < 1e-9:
            return self.uncertain
        return margin_band(t, margin)

    @property
    def reference(self) -> Reference:
        """Training labs' statistics for the "unlike the training data" check; built-in defaults if none."""
        raw = self.extra.get("reference")
        return DEFAULT_REFERENCE if raw is None else parse_reference(raw)

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
    crop = pre.get("crop", CROP_FUNCTION)
    if crop not in CROP_ALIASES:
        raise ModelError(f"Model card {where}: preprocessing.crop {crop!r} is not this app's crop ({CROP_FUNCTION}).")
    output = _require(data, "output", dict, where)
    kind = _require(output, "kind", str, where)
    if kind not in ("sigmoid", "softmax"):
        raise ModelError(f"Model card {where}: output.kind must be 'sigmoid' or 'softmax', not '{kind}'.")
    names = tuple(_require(data, "class_names", list, where))
    if sorted(names) != sorted((NEGATIVE_CLASS, POSITIVE_CLASS)):
        raise ModelError(f"Model card {where}: class_names must be {NEGATIVE_CLASS!r} and {POSITIVE_CLASS!r}, "
                         f"got {list(names)}.")
    threshold = _require(data, "threshold", (int, float), where)
    if not 0 < threshold < 1:
        raise ModelError(f"Model card {where}: threshold {threshold} must be between 0 and 1.")
    band = _parse_band(data.get("uncertain_band"), float(threshold), where)
    if data.get("reference") is not None:
        try:
            parse_reference(data["reference"])
        except ValueError as exc:
            raise ModelError(f"Model card {where}: {exc}. Re-export the model with the training module.") from exc
    known = {"format_version", "input_size", "preprocessing", "output", "class_names", "threshold",
             "name", "architecture", "onnx_file", "uncertain_band"}
    return ModelCard(
        name=str(data.get("name", "unnamed model")),
        architecture=str(data.get("architecture", "unknown")),
        input_size=input_size,
        scale=float(scale),
        output_kind=kind,
        class_names=names,
        threshold=float(threshold),
        onnx_file=_onnx_file(data.get("onnx_file", "model.onnx"), where),
        extra={k: v for k, v in data.items() if k not in known},
        uncertain=band,
    )


def _onnx_file(raw: Any, where: Path) -> str:
    """A plain file name inside the model folder: no folders, no ``..``, no absolute path (issue 24: a card
    could load a network file from anywhere on the disk)."""
    name = str(raw)
    if not name or name in (".", "..") or Path(name).name != name or "/" in name or "\\" in name:
        raise ModelError(f"Model card {where}: onnx_file {name[:80]!r} must be a file name inside the model "
                         "folder (no folder part).")
    return name


def _parse_band(raw: Any, threshold: float, where: Path) -> UncertainBand | None:
    """Validate the optional ``uncertain_band``: ``0 <= low <= threshold <= high <= 1``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ModelError(f"Model card {where}: 'uncertain_band' must be an object with 'low' and 'high'.")
    low = _require(raw, "low", (int, float), where)
    high = _require(raw, "high", (int, float), where)
    if not 0 <= low <= threshold <= high <= 1:
        raise ModelError(f"Model card {where}: uncertain_band [{low}, {high}] must lie in 0..1 and contain "
                         f"the threshold {threshold}.")
    return UncertainBand(float(low), float(high), str(raw.get("rule", "")))


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
