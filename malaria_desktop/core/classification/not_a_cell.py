"""The "not a red cell" light model: white-cell pieces, platelets, stain debris and artefacts out of the count.

Why a second model and not a third class of the main classifier: the main classifier sees a tight crop
resized to its input, so a platelet and a red cell look the same size to it; what tells them apart is
mostly size and shape *relative to this field's red cells*. So this model sees a context crop: a square
of ``SPAN`` typical cell diameters around the region, pixels outside the region black (the crop
convention), resized to ``size`` px. A red cell fills about half of it whatever the microscope; a platelet
is a dot, a white cell or a clump overflows it. It is small (a width-0.125 VGG, 32 px) and runs in
ONNX Runtime, batched, in well under a millisecond per cell.

The model folder is the main model's (``trained_model/``): ``not_a_cell.onnx`` + ``not_a_cell_card.json``.
A folder without them (a lab's older calibrated model) simply runs without the verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.errors import ModelError

ONNX_FILE = "not_a_cell.onnx"
CARD_FILE = "not_a_cell_card.json"
SPAN = 2.0  # context crop side, in typical cell diameters


def context_crop(image: np.ndarray, bbox: tuple[int, int, int, int], mask: np.ndarray | None, diameter: float,
                 size: int = 32, span: float = SPAN) -> np.ndarray:
    """``(size, size, 3)`` uint8: the region on black, centred in a square of ``span`` x ``diameter`` px.

    ``mask`` is bool ``(h, w)`` local to ``bbox``; ``None`` means "not pure black" (an NIH crop, where
    ``bbox`` is the whole crop and ``diameter`` the size the cell should be seen at).
    """
    x, y, w, h = (int(v) for v in bbox)
    patch = image[max(y, 0) : y + h, max(x, 0) : x + w]
    if mask is None:
        m = patch.max(axis=2) > 0
    else:
        m = np.asarray(mask, bool)[max(y, 0) - y : max(y, 0) - y + patch.shape[0],
                                   max(x, 0) - x : max(x, 0) - x + patch.shape[1]]
    x, y = max(x, 0), max(y, 0)
    ph, pw = m.shape
    side = max(4.0, span * max(diameter, 2.0))
    f = size / side  # shrink the cell alone, then place it: a 260 px canvas per cell cost 4x more
    tw, th = max(1, int(round(pw * f))), max(1, int(round(ph * f)))
    ox = int(round((size - tw) / 2.0))
    oy = int(round((size - th) / 2.0))
    canvas = np.zeros((size, size, 3), np.uint8)
    if pw == 0 or ph == 0:
        return canvas
    cell = cv2.bitwise_and(patch, patch, mask=m.view(np.uint8) if m.dtype == bool else m.astype(np.uint8))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    small = cv2.resize(np.ascontiguousarray(cell), (tw, th), interpolation=interp)
    sx0, sy0 = max(0, -ox), max(0, -oy)  # a cell bigger than the square is cut at its edges
    dx0, dy0 = max(0, ox), max(0, oy)
    w_, h_ = min(tw - sx0, size - dx0), min(th - sy0, size - dy0)
    canvas[dy0 : dy0 + h_, dx0 : dx0 + w_] = small[sy0 : sy0 + h_, sx0 : sx0 + w_]
    return canvas


@dataclass
class NotACellModel:
    """P(not a red cell) per region; ``load`` returns None for a folder without the model."""

    path: Path
    input_size: int
    threshold: float
    scale: float
    card: dict
    _session: object = field(repr=False)
    _input: str = field(repr=False)

    @classmethod
    def load(cls, model_dir: Path | str, *, threads: int = 1) -> NotACellModel | None:
        model_dir = Path(model_dir)
        card_path, onnx_path = model_dir / CARD_FILE, model_dir / ONNX_FILE
        if not card_path.is_file() and not onnx_path.is_file():
            return None
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
            size, threshold = int(card["input_size"]), float(card["threshold"])
            scale = float(card.get("preprocessing", {}).get("scale", 1.0 / 255.0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{card_path} is missing or unreadable ({exc}). Reinstall the app to restore the "
                             "bundled model, or remove not_a_cell.onnx from the model folder.") from exc
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT's own exception types for missing or corrupt graphs
            raise ModelError(f"{onnx_path} is not a usable ONNX model ({type(exc).__name__}). Reinstall the app, "
                             "or remove not_a_cell_card.json from the model folder.") from exc
        shape = list(session.get_inputs()[0].shape)
        if len(shape) != 4 or shape[1:] != [size, size, 3]:
            raise ModelError(f"{onnx_path} expects input {shape}, but {card_path.name} says {size}x{size}x3.")
        return cls(onnx_path, size, threshold, scale, card, session, session.get_inputs()[0].name)

    def predict(self, crops: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """P(not a red cell) as float32 ``(N,)`` for context crops ``(N, S, S, 3)`` uint8."""
        out = np.empty(len(crops), np.float32)
        for start in range(0, len(crops), batch_size):
            batch = crops[start : start + batch_size].astype(np.float32) * np.float32(self.scale)
            raw = self._session.run(None, {self._input: batch})[0]  # type: ignore[attr-defined]
            out[start : start + len(batch)] = np.asarray(raw, np.float32).reshape(len(batch), -1)[:, 0]
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)

    def crops(self, image: np.ndarray, cells, diameter: float) -> np.ndarray:
        """Context crops of ``cells`` (``results.Cell``) at this model's input size."""
        if not cells:
            return np.zeros((0, self.input_size, self.input_size, 3), np.uint8)
        return np.stack([context_crop(image, c.bbox, c.mask, diameter, self.input_size) for c in cells])


def load_for(model_dir: Path | str, calibrated: bool) -> NotACellModel | None:
    """The folder's own not-a-cell model; a lab's calibrated folder (which holds only the recalibrated parasite
    model) falls back to the bundled one, so calibrating never switches the verdict off."""
    own = NotACellModel.load(model_dir)
    if own is not None or not calibrated:
        return own
    from malaria_desktop.paths import model_dir_candidates

    for folder in model_dir_candidates():
        if (folder / ONNX_FILE).is_file() and (folder / CARD_FILE).is_file():
            return NotACellModel.load(folder)
    return None
