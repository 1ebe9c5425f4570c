"""The session file's schema: types, ranges, finite numbers, boxes inside their image, size limits.

Why a schema and not ``int(item["bbox"][2])``: a session file is input like any image. Before this module a
hostile or damaged file could carry ``rbc_per_ul = 0``, a cut-off of 0 or ``target_cells = "lots"`` (the
summary then failed and the GUI kept showing the previous patient's figures), cell boxes of 20000 x 20000
pixels (2 GB to open a 69 KB file), NaN that loaded but could never be saved again, or nesting deep
enough to raise RecursionError (issue 13 items 2, 7, 13). Everything here is checked on load *and* the
same rules run before a save (``check_result``), so what is written can always be read back.

Cells are stored with bbox, centroid, area, contour, probability, label, edge; the mask is rebuilt from
the contour, and stored (packed bits, base64) only for the rare cell the contour does not reproduce.

Issue 24: a crafted session with a 190,000-point outline froze the window for over 6 minutes, and one with
a deeply nested ``model`` entry loaded but made every later autosave fail (the autosave's copy and the
JSON writer recurse). An outline now has at most ``outline_limit(w, h)`` points, what the border of its box
can hold (the app's outlines come from OpenCV's simple chain on the cell's own mask), and free-form data
(``model``) is at most ``MAX_DEPTH`` deep and ``MAX_ITEMS`` entries.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.image_io import MAX_PIXELS
from malaria_desktop.core.results import NOT_CELL, PARASITIZED, UNINFECTED, Cell, CellResult, ImageResult

MAX_SESSION_BYTES = 256 * 1024 * 1024  # a 50-field, 100 000-cell session is ~40 MB
MAX_TEXT = 100_000  # characters in one metadata field (notes)
MAX_PATH_TEXT = 4096
MAX_IMAGES = 100_000
MAX_CELLS_PER_IMAGE = 200_000
MAX_CELL_SIDE = 4096  # pixels: an RBC is ~50-200 px across; a 4096-px box is already absurd
MAX_MASK_PIXELS = 512_000_000  # all cell boxes of a session together (their masks are kept in memory)
MAX_CONTOUR_POINTS = 100_000
MAX_WARNINGS = 100
MAX_DEPTH = 12  # nesting of free-form data (a model card's figures are 3-4 deep)
MAX_ITEMS = 100_000  # entries of free-form data, all levels together
SHA256_HEX = 64


class SchemaError(MalariaDesktopError, ValueError):
    """The session data breaks the schema; the message says where."""


# ----- small checks -----------------------------------------------------------------------------------
def text(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise SchemaError(f"{where} is longer than {limit:,} characters")
    if "\x00" in value:
        raise SchemaError(f"{where} contains a NUL character")
    return value


def integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"{where} must be a whole number, not {value!r:.40}")
    if not low <= value <= high:
        raise SchemaError(f"{where} = {value} is outside [{low}, {high}]")
    return value


def number(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"{where} must be a number, not {value!r:.40}")
    result = float(value)
    if not math.isfinite(result) or not low <= result <= high:
        raise SchemaError(f"{where} = {result} is not a finite number in [{low}, {high}]")
    return result


def mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where} must be an object, not {type(value).__name__}")
    return value


def sequence(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaError(f"{where} must be a list, not {type(value).__name__}")
    if len(value) > limit:
        raise SchemaError(f"{where} has more than {limit:,} entries")
    return value


def plain_data(value: Any, where: str) -> Any:
    """Free-form JSON data (a model card copy): at most MAX_DEPTH deep and MAX_ITEMS entries; walked
    without recursion, so a hostile depth cannot raise RecursionError here."""
    stack, seen = [(value, 1)], 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise SchemaError(f"{where} is nested more than {MAX_DEPTH} levels deep")
            children = list(item.values()) if isinstance(item, dict) else item
            seen += len(children)
            if seen > MAX_ITEMS:
                raise SchemaError(f"{where} has more than {MAX_ITEMS:,} entries")
            stack.extend((child, depth + 1) for child in children)
    return value


def outline_limit(w: int, h: int) -> int:
    """Most points an outline in a ``w`` x ``h`` box can have: twice its border, and some."""
    return 4 * (w + h) + 64


def check_outline(contour: np.ndarray, bbox: tuple[int, int, int, int], where: str) -> np.ndarray:
    if len(contour) > outline_limit(bbox[2], bbox[3]):
        raise SchemaError(f"{where} has {len(contour):,} points, more than a {bbox[2]}x{bbox[3]} cell's "
                          f"outline can have ({outline_limit(bbox[2], bbox[3]):,})")
    return contour


def box(value: Any, where: str, image_shape: tuple[int, int] | None) -> tuple[int, int, int, int]:
    """``(x, y, w, h)``: whole numbers, 1..MAX_CELL_SIDE wide and high, inside the image when known."""
    items = sequence(value, where, 4)
    if len(items) != 4:
        raise SchemaError(f"{where} must have 4 numbers (x, y, width, height)")
    height, width = image_shape if image_shape else (MAX_PIXELS, MAX_PIXELS)
    x = integer(items[0], f"{where} x", 0, max(width - 1, 0))
    y = integer(items[1], f"{where} y", 0, max(height - 1, 0))
    w = integer(items[2], f"{where} width", 1, MAX_CELL_SIDE)
    h = integer(items[3], f"{where} height", 1, MAX_CELL_SIDE)
    if x + w > width or y + h > height:
        raise SchemaError(f"{where} ({x}, {y}, {w}, {h}) reaches outside the {width}x{height} image")
    return x, y, w, h


def points(value: Any, where: str, image_shape: tuple[int, int], flat: bool) -> np.ndarray:
    """A polygon as ``int32 (K, 2)``; every point inside the image."""
    items = sequence(value, where, 2 * MAX_CONTOUR_POINTS)
    if flat:
        if len(items) % 2:
            raise SchemaError(f"{where} must have an even number of coordinates")
        pairs = items
    else:
        pairs = [c for p in items for c in sequence(p, where, 2)]
    try:
        arr = np.asarray(pairs) if pairs else np.zeros((0,), np.int64)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{where} must hold whole numbers") from exc
    if arr.ndim != 1 or arr.dtype.kind not in "iu":  # floats, text, nested lists (and bools mixed with floats)
        raise SchemaError(f"{where} must hold whole numbers")
    arr = arr.reshape(-1, 2)
    height, width = image_shape
    if arr.size and (arr.min() < 0 or arr[:, 0].max() >= width or arr[:, 1].max() >= height):
        raise SchemaError(f"{where} has points outside the {width}x{height} image")
    return arr.astype(np.int32)


# ----- masks ------------------------------------------------------------------------------------------
def mask_from_contour(contour: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = bbox
    mask = np.zeros((h, w), np.uint8)
    if len(contour):
        cv2.fillPoly(mask, [np.asarray(contour, np.int32).reshape(-1, 1, 2) - np.array([x, y], np.int32)], 1)
    return mask.astype(bool)


def _encode_mask(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask.astype(bool), axis=None).tobytes()).decode("ascii")


def _decode_mask(value: Any, shape: tuple[int, int], where: str) -> np.ndarray:
    raw = text(value, where, limit=4 * (shape[0] * shape[1] // 8 + 3) // 3 + 8)
    try:
        bits = np.unpackbits(np.frombuffer(base64.b64decode(raw, validate=True), np.uint8))
    except (binascii.Error, ValueError) as exc:
        raise SchemaError(f"{where} is not valid base64") from exc
    count = shape[0] * shape[1]
    if bits.size < count:
        raise SchemaError(f"{where} is too short for its {shape[1]}x{shape[0]} box")
    return bits[:count].reshape(shape).astype(bool)


# ----- cells and results --------------------------------------------------------------------------------
def check_result(result: ImageResult) -> None:
    """The save-side check: what would be written must pass the load-side schema (raises SchemaError)."""
    decode_result(encode_result(result), str(result.path), budget=[MAX_MASK_PIXELS], masks=False)


def encode_cell(cr: CellResult) -> dict[str, Any]:
    cell = cr.cell
    contour = np.asarray(cell.contour, np.int32).reshape(-1, 2)
    p = cr.probability
    item: dict[str, Any] = {
        "id": int(cell.cell_id),
        "bbox": [int(v) for v in cell.bbox],
        "centroid": [float(v) for v in cell.centroid],
        "area": int(cell.area_px),
        "contour": contour.ravel().tolist(),
        "p": None if p is None or math.isnan(p) else float(p),
        "label": cr.label,
        "edge": bool(cell.on_edge),
    }
    if cell.clump:  # written only when set, so sessions without clumps stay as they were
        item["clump"] = True
    if not math.isnan(cr.not_cell_probability):  # P(not a red cell), when that model ran
        item["q"] = float(cr.not_cell_probability)
    mask = np.asarray(cell.mask, bool)
    if mask.shape != (cell.bbox[3], cell.bbox[2]) or not np.array_equal(mask, mask_from_contour(contour, cell.bbox)):
        item["mask"] = _encode_mask(mask)
        item["mask_shape"] = list(mask.shape)
    return item


def decode_cell(item: Any, image_shape: tuple[int, int], where: str, budget: list[int],
                masks: bool = True) -> CellResult:
    item = mapping(item, where)
    try:
        cid = integer(item["id"], f"{where} id", 0, 2**31 - 1)
        bbox = box(item["bbox"], f"{where} bbox", image_shape)
        x, y, w, h = bbox
        budget[0] -= w * h
        if budget[0] < 0:
            raise SchemaError(f"the cells' boxes together exceed {MAX_MASK_PIXELS:,} pixels")
        contour = check_outline(points(item["contour"], f"{where} contour", image_shape, flat=True), bbox,
                                f"{where} contour")
        if "mask" in item:
            if sequence(item.get("mask_shape"), f"{where} mask_shape", 2) != [h, w]:
                raise SchemaError(f"{where} mask_shape does not match its bbox")
            mask = _decode_mask(item["mask"], (h, w), f"{where} mask")
        elif masks:
            mask = mask_from_contour(contour, bbox)
        else:  # a save-side check: the mask was just encoded from this very contour
            mask = np.zeros((0, 0), bool)
        centroid = sequence(item["centroid"], f"{where} centroid", 2)
        cx = number(centroid[0], f"{where} centroid x", x - 1, x + w)
        cy = number(centroid[1], f"{where} centroid y", y - 1, y + h)
        area = integer(item["area"], f"{where} area", 0, w * h)
        edge = item["edge"]
        if not isinstance(edge, bool):
            raise SchemaError(f"{where} edge must be true or false")
        p = item["p"]
        probability = math.nan if p is None else number(p, f"{where} probability", 0.0, 1.0)
        label = item["label"]
    except (KeyError, IndexError) as exc:
        raise SchemaError(f"{where} lacks {exc}") from exc
    if label not in (PARASITIZED, UNINFECTED, NOT_CELL):
        raise SchemaError(f"{where} has an unknown label {label!r:.40}")
    clump = item.get("clump", False) is True
    q = item.get("q")
    q = math.nan if q is None else number(q, f"{where} not-a-cell probability", 0.0, 1.0)
    return CellResult(Cell(cid, bbox, (cx, cy), area, mask, contour, edge, clump), probability, label, q)


def encode_result(result: ImageResult) -> dict[str, Any]:
    item = {
        "path": str(result.path),
        "status": result.status,
        "error": result.error,
        "image_shape": [int(v) for v in result.image_shape],
        "cell_diameter_px": float(result.cell_diameter_px),
        "warnings": list(result.warnings),
        "threshold": float(result.threshold),
        "cells": [encode_cell(cr) for cr in result.cells],
    }
    if result.content_sha256:
        item["sha256"] = result.content_sha256
    if result.uncovered_share > 0:  # "cells may be missed here": the share and the outlined areas
        item["uncovered_share"] = float(result.uncovered_share)
        item["uncovered"] = [np.asarray(c, np.int32).ravel().tolist() for c in result.uncovered]
    return item


def decode_result(item: Any, key: str, budget: list[int], masks: bool = True) -> ImageResult:
    where = f"result of {key!r:.80}"
    item = mapping(item, where)
    try:
        path = text(item["path"], f"{where} path", MAX_PATH_TEXT)
        if path != key:
            raise SchemaError(f"{where} is stored under another image's name")
        status = item["status"]
        if status not in ("ok", "error"):
            raise SchemaError(f"{where} has an unknown status {status!r:.40}")
        shape = sequence(item["image_shape"], f"{where} image_shape", 2)
        if len(shape) != 2:
            raise SchemaError(f"{where} image_shape must be (height, width)")
        height = integer(shape[0], f"{where} height", 0, MAX_PIXELS)
        width = integer(shape[1], f"{where} width", 0, MAX_PIXELS)
        if height * width > MAX_PIXELS or (status == "ok" and height * width == 0):
            raise SchemaError(f"{where} image size {width}x{height} is impossible")
        cells = sequence(item["cells"], f"{where} cells", MAX_CELLS_PER_IMAGE)
        if status == "error" and cells:
            raise SchemaError(f"{where} is an error but has cells")
        decoded = tuple(decode_cell(c, (height, width), f"{where} cell {i}", budget, masks)
                        for i, c in enumerate(cells))
        if len({c.cell.cell_id for c in decoded}) != len(decoded):
            raise SchemaError(f"{where} has two cells with the same id")
        warnings = sequence(item.get("warnings", []), f"{where} warnings", MAX_WARNINGS)
        digest = text(item.get("sha256", ""), f"{where} sha256", SHA256_HEX)
        if digest and (len(digest) != SHA256_HEX or any(ch not in "0123456789abcdef" for ch in digest)):
            raise SchemaError(f"{where} sha256 is not a SHA-256 hex digest")
        return ImageResult(
            path=Path(path),
            status=status,
            error=text(item.get("error", ""), f"{where} error", 10_000),
            image_shape=(height, width),
            cells=decoded,
            cell_diameter_px=number(item.get("cell_diameter_px", 0.0), f"{where} cell diameter", 0.0, 1e6),
            warnings=tuple(text(w, f"{where} warning", 1000) for w in warnings),
            threshold=number(item.get("threshold", 0.5), f"{where} threshold", 0.0, 1.0),
            content_sha256=digest,
            uncovered_share=number(item.get("uncovered_share", 0.0), f"{where} uncovered share", 0.0, 1.0),
            uncovered=tuple(points(c, f"{where} uncovered area", (height, width), flat=True)
                            for c in sequence(item.get("uncovered", []), f"{where} uncovered", MAX_CELLS_PER_IMAGE)),
        )
    except KeyError as exc:
        raise SchemaError(f"{where} lacks {exc}") from exc


def check_added_cells(review_data: Any, shapes: Mapping[str, tuple[int, int]]) -> None:
    """Boxes and outlines the technician drew must lie inside their image and have cell-like sizes."""
    added = mapping(mapping(review_data, "review").get("added", {}), "review added cells")
    total = 0
    for key, cells in added.items():
        for i, item in enumerate(sequence(cells, f"added cells of {key!r:.80}", MAX_CELLS_PER_IMAGE)):
            where = f"added cell {i} of {key!r:.80}"
            item = mapping(item, where)
            x, y, w, h = box(item.get("bbox"), f"{where} bbox", shapes.get(key))
            total += w * h
            if item.get("outline"):
                outline = points(item["outline"], f"{where} outline", shapes.get(key) or (MAX_PIXELS, MAX_PIXELS),
                                 flat=False)
                check_outline(outline, (x, y, w, h), f"{where} outline")
    if total > MAX_MASK_PIXELS:
        raise SchemaError(f"the drawn cells' boxes together exceed {MAX_MASK_PIXELS:,} pixels")
