"""Model runtime: validate a model folder (card + ONNX) and run batched inference with ONNX Runtime.

Every way a model folder can be wrong (missing, corrupt card, corrupt ONNX, input size or output shape
that disagrees with the card) ends in a ``ModelError`` whose message says what to do, so the CLI and
the GUI can show it instead of a traceback. TensorFlow is never imported here: the app ships only
ONNX Runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from malaria_desktop.core.classification.model_card import ModelCard, load_model_card
from malaria_desktop.core.classification.not_a_cell import NotACellModel, load_for
from malaria_desktop.core.errors import ModelError

DEFAULT_BATCH_SIZE = 256
_FIX = "Pass a valid model folder with --model DIR, or reinstall the app to restore the bundled model."


def _threads() -> int:
    """Intra-op threads: every core this process may use (affinity-aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined,unused-ignore]  # Linux only
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _dim(value: object) -> int | None:
    """ONNX dims are ints for fixed sizes and strings/None for dynamic ones."""
    return value if isinstance(value, int) and value > 0 else None


@dataclass
class Classifier:
    """A loaded, validated model. Build it with ``Classifier.load``; ``predict`` is thread-compatible."""

    card: ModelCard
    model_dir: Path
    _session: object = field(repr=False)
    _input_name: str = field(repr=False)
    not_a_cell: NotACellModel | None = None  # the folder's not-a-red-cell model (None: the folder has none)

    @property
    def threshold(self) -> float:
        """Decision threshold from the model card: P(parasitized) >= threshold means parasitized."""
        return self.card.threshold

    @property
    def input_size(self) -> int:
        return self.card.input_size

    @classmethod
    def load(cls, model_dir: Path | str | None = None, *, threads: int | None = None) -> "Classifier":
        """Validate ``model_dir`` (default: the bundled model) and open an ONNX Runtime session."""
        if model_dir is None:
            from malaria_desktop.paths import default_model_dir

            model_dir = default_model_dir()
        model_dir = Path(model_dir)
        card = load_model_card(model_dir)
        onnx_path = model_dir / card.onnx_file
        if not onnx_path.is_file():
            raise ModelError(f"Model folder {model_dir} has a model card but no {card.onnx_file}. {_FIX}")
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a broken installation
            raise ModelError(f"ONNX Runtime is not installed ({exc}). Reinstall the app.") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings from the runtime are not for technicians
        # No busy-waiting between ops: decoding threads, the GUI thread and other programs need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for corrupt/unsupported graphs
            raise ModelError(
                f"{onnx_path} is not a usable ONNX model ({type(exc).__name__}: {str(exc).strip()[:300]}). {_FIX}"
            ) from exc
        input_name = cls._check_signature(session, card, onnx_path)
        return cls(card=card, model_dir=model_dir, _session=session, _input_name=input_name,
                   not_a_cell=load_for(model_dir, calibrated="base_model" in card.extra))

    @staticmethod
    def _check_signature(session: object, card: ModelCard, onnx_path: Path) -> str:
        """Input must be (N, S, S, 3) with S = card.input_size; output (N, 1) sigmoid or (N, 2) softmax."""
        inputs = session.get_inputs()  # type: ignore[attr-defined]
        outputs = session.get_outputs()  # type: ignore[attr-defined]
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"{onnx_path} must have exactly one input and one output. {_FIX}")
        shape = list(inputs[0].shape)
        size = card.input_size
        if len(shape) != 4 or any(_dim(d) not in (None, want)
                                  for d, want in zip(shape[1:], (size, size, 3), strict=False)):
            raise ModelError(
                f"{onnx_path} expects input {shape}, but its model card says NHWC crops of {size}x{size}x3. "
                f"The model and model_card.json do not belong together. {_FIX}"
            )
        if "float" not in str(inputs[0].type):
            raise ModelError(f"{onnx_path} input type is {inputs[0].type}; a float32 input is required. {_FIX}")
        out_shape = list(outputs[0].shape)
        want = 1 if card.output_kind == "sigmoid" else 2
        if len(out_shape) != 2 or _dim(out_shape[1]) not in (None, want):
            raise ModelError(
                f"{onnx_path} output shape is {out_shape}, but the card says a {card.output_kind} output "
                f"of shape (N, {want}). {_FIX}"
            )
        return str(inputs[0].name)

    def predict(self, crops: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """P(parasitized) as float32 ``(N,)`` for uint8 RGB crops ``(N, S, S, 3)``, in batches."""
        crops = np.asarray(crops)
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(f"predict needs crops of shape (N, {size}, {size}, 3), got {crops.shape}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.empty(len(crops), np.float32)
        scale = np.float32(self.card.scale)
        for start in range(0, len(crops), batch_size):
            batch = crops[start : start + batch_size].astype(np.float32) * scale
            out[start : start + len(batch)] = self._run(batch)
        return out

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            raw = self._session.run(None, {self._input_name: batch})[0]  # type: ignore[attr-defined]
        except Exception as exc:
            raise ModelError(f"The model failed while classifying ({type(exc).__name__}: {exc}). {_FIX}") from exc
        raw = np.asarray(raw, dtype=np.float32)
        expected = 1 if self.card.output_kind == "sigmoid" else 2
        if raw.ndim != 2 or raw.shape != (len(batch), expected):
            raise ModelError(f"The model returned shape {raw.shape}; expected ({len(batch)}, {expected}). {_FIX}")
        probs = raw[:, 0] if expected == 1 else raw[:, self.card.positive_index]
        if not np.all(np.isfinite(probs)):
            raise ModelError(f"The model returned NaN or infinite probabilities. {_FIX}")
        return np.clip(probs, 0.0, 1.0)
