"""Annotated field images for exports: every cell's outline coloured by its (reviewed) verdict.

Why OpenCV here and not Qt: exports run headless (CLI, tests); the GUI draws its own interactive overlays.

API:
- ``COLORS`` (RGB per label): parasitized red, uninfected green, not_cell grey: the window's palette
  (``results.VERDICT_COLOURS``).
- ``draw_annotations(image_rgb, cell_results, labels=None, *, reviewed=(), legend=True, title="")``:
  a new RGB uint8 image. ``labels`` overrides verdicts: a sequence parallel to ``cell_results`` or a mapping
  ``cell_id -> label`` (missing ids keep the automatic verdict). Parasitized cells get a thicker outline, drawn
  last so neighbours never hide them; cells in ``reviewed`` (cell ids) get a white dot at the centroid so a
  reader can tell technician-checked cells apart. With ``legend=True`` a white strip with ``title`` (ASCII;
  OpenCV fonts have no accents) and the count per label is added *above* the field, so the output is taller
  than the input and hides no cell; with ``legend=False`` the output has the input's shape (pixel
  coordinates unchanged).
- ``encode_png(image_rgb) -> bytes`` (OpenCV, works for any path because the caller writes the bytes).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import cv2
import numpy as np

from malaria_desktop.core.results import VERDICT_COLOURS, CellResult, verdict_rgb

COLORS: dict[str, tuple[int, int, int]] = {label: verdict_rgb(label) for label in VERDICT_COLOURS}  # as on screen
LEGEND_TEXT = {"parasitized": "Parasitized", "uninfected": "Uninfected", "not_cell": "Not a cell"}


def _resolve_labels(
    cell_results: Sequence[CellResult], labels: Sequence[str] | Mapping[int, str] | None
) -> list[str]:
    if labels is None:
        return [cr.label for cr in cell_results]
    if isinstance(labels, Mapping):
        return [labels.get(cr.cell.cell_id, cr.label) for cr in cell_results]
    if len(labels) != len(cell_results):
        raise ValueError(f"{len(labels)} labels for {len(cell_results)} cells")
    return list(labels)


def draw_annotations(
    image_rgb: np.ndarray,
    cell_results: Sequence[CellResult],
    labels: Sequence[str] | Mapping[int, str] | None = None,
    *,
    reviewed: Collection[int] = (),
    legend: bool = True,
    title: str = "",
) -> np.ndarray:
    """Draw cell outlines coloured by verdict on a copy of ``image_rgb`` (RGB uint8, (H, W, 3))."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"draw_annotations needs an RGB uint8 image, got {image_rgb.shape} {image_rgb.dtype}")
    out = np.ascontiguousarray(image_rgb).copy()
    height, width = out.shape[:2]
    thin = max(1, round(max(height, width) / 900))
    resolved = _resolve_labels(cell_results, labels)
    reviewed_ids = set(reviewed)
    # draw grey, then green, then red so parasitized outlines are never hidden under neighbours
    order = sorted(range(len(cell_results)), key=lambda i: ("not_cell", "uninfected", "parasitized").index(resolved[i])
                   if resolved[i] in COLORS else -1)
    for i in order:
        cr, label = cell_results[i], resolved[i]
        color = COLORS.get(label, (255, 255, 0))
        contour = np.asarray(cr.cell.contour, np.int32).reshape(-1, 1, 2)
        thickness = thin + 1 if label == "parasitized" else thin
        if len(contour) >= 2:
            cv2.polylines(out, [contour], True, color, thickness, cv2.LINE_AA)
        else:
            x, y, w, h = cr.cell.bbox
            cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), color, thickness, cv2.LINE_AA)
        cx, cy = (int(round(v)) for v in cr.cell.centroid)
        if cr.cell.cell_id in reviewed_ids:
            cv2.circle(out, (cx, cy), thin + 2, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, (cx, cy), thin + 2, color, thin, cv2.LINE_AA)
    if legend:
        out = np.vstack([_legend_bar(out.shape[1], resolved, title, thin), out])
    return out


def _legend_bar(width: int, labels: list[str], title: str, thin: int) -> np.ndarray:
    """A white strip with the title and the count per label, drawn above the field (hides no cell)."""
    scale = min(max(0.45, width / 2400), 1.5)
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thin)
    pad = th // 2 + 4
    bar = np.full((th + base + 2 * pad, width, 3), 255, np.uint8)
    x = pad
    if title:
        cv2.putText(bar, title, (x, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), thin, cv2.LINE_AA)
        x += cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, thin)[0][0] + 3 * pad
    for lab in COLORS:
        if lab == "not_cell" and lab not in labels:
            continue
        text = f"{LEGEND_TEXT[lab]}: {labels.count(lab)}"
        cv2.rectangle(bar, (x, pad), (x + th, pad + th), COLORS[lab], -1)
        cv2.putText(bar, text, (x + th + pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), thin,
                    cv2.LINE_AA)
        x += th + pad + cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thin)[0][0] + 3 * pad
    return bar


def encode_png(image_rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB image (encode in memory: cv2.imwrite cannot open non-ASCII paths on Windows)."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return buffer.tobytes()
