"""Annotated fields as reviewed cells: COCO JSON boxes matched to the cells the app's own engine finds.

Why: labs (and datasets) label fields in CVAT, Label Studio and the like, which export COCO JSON
(``images[].file_name``, ``annotations[].bbox`` = [x, y, w, h] in pixels, ``categories[].name``). The
classifier only ever sees cells the app's segmentation cuts, so the boxes are matched to those cells
(greedy by box overlap, IoU >= ``MATCH_IOU``); each matched cell takes its box's class. Regions the app
outlines that match no box are *not a cell* (``unmatched="not-a-cell"``: with every red cell boxed they are
debris, platelets, white cells or fragments the app would count) or left out (``"ignore"``). Boxes that no
cell matches are cells the segmentation missed: reported, not learned (the app would never show them).

Every input problem is a ``CalibrationInputError`` naming what is wrong, raised before anything is
written: an empty or non-COCO file, annotations for images that were not given (or given fields with no
entry), boxes outside their image, unknown category names (map them with ``label_map``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from malaria_desktop.core.calibration.data import CalibrationInputError, ReviewedCells
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.errors import MalariaDesktopError
from malaria_desktop.core.image_io import load_image
from malaria_desktop.core.segmentation.engine import segment_cells

Kind = Literal["parasitized", "uninfected", "not_cell"]
KINDS: tuple[Kind, ...] = ("parasitized", "uninfected", "not_cell")
Unmatched = Literal["not-a-cell", "ignore"]
MATCH_IOU = 0.3
EDGE_TOLERANCE_PX = 2.0  # exporters round boxes; a box this far past the border is still inside
DEFAULT_NAMES: dict[str, Kind] = {
    **dict.fromkeys(("parasitized", "parasitised", "infected", "parasite", "ring", "rings", "trophozoite",
                     "trophozoites", "schizont", "schizonts", "gametocyte", "gametocytes", "malaria"),
                    "parasitized"),
    **dict.fromkeys(("uninfected", "healthy", "rbc", "red blood cell", "red cell", "normal", "negative"),
                    "uninfected"),
    **dict.fromkeys(("wbc", "white blood cell", "leukocyte", "platelet", "platelets", "artefact", "artifact",
                     "debris", "not a cell", "not_cell", "not-a-cell"), "not_cell"),
}


def normalise_name(name: str) -> str:
    """Category names compared case-blind, with ``_``/``-``/spaces alike ("Red_Blood_Cell" = "red blood cell")."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


def parse_label_map(items: Iterable[str]) -> dict[str, Kind]:
    """``NAME=CLASS`` pairs (CLASS: parasitized, uninfected or not-a-cell); a clear error otherwise."""
    out: dict[str, Kind] = {}
    for item in items:
        for pair in filter(None, (p.strip() for p in str(item).split(","))):
            name, sep, kind = pair.partition("=")
            kind_norm = normalise_name(kind).replace(" ", "_")
            if not sep or not name.strip() or kind_norm not in KINDS:
                raise CalibrationInputError(
                    f"--label-map '{pair}' is not NAME=CLASS with CLASS parasitized, uninfected or not-a-cell.")
            out[normalise_name(name)] = kind_norm  # type: ignore[assignment,unused-ignore]
    return out


@dataclass(frozen=True)
class Box:
    bbox: tuple[float, float, float, float]  # x, y, w, h
    kind: Kind


@dataclass(frozen=True)
class CocoFile:
    """Boxes per image file name (base name), after every check."""

    boxes: dict[str, tuple[Box, ...]]
    sizes: dict[str, tuple[int, int]]  # (height, width) as the file states, 0 when absent


def _fail(path: Path, why: str) -> CalibrationInputError:
    return CalibrationInputError(f"Annotations '{path.name}': {why}")


def _load_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _fail(path, "the file does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc}).") from exc
    if not text.strip():
        raise _fail(path, "the file is empty.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"not JSON (line {exc.lineno}: {exc.msg}).") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
            data.get("annotations"), list) or not isinstance(data.get("categories"), list):
        raise _fail(path, "not COCO JSON: it needs 'images', 'annotations' and 'categories' lists.")
    if not data["images"] or not data["annotations"]:
        raise _fail(path, "no images or no annotations in the file.")
    return data


def _categories(path: Path, data: Mapping[str, Any], label_map: Mapping[str, Kind]) -> dict[Any, Kind]:
    names = {**DEFAULT_NAMES, **label_map}
    out: dict[Any, Kind] = {}
    unknown = []
    for cat in data["categories"]:
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise _fail(path, f"a category without id or name: {str(cat)[:80]}")
        kind = names.get(normalise_name(cat["name"]))
        if kind is None:
            unknown.append(cat["name"])
        else:
            out[cat["id"]] = kind
    if unknown:
        raise _fail(path, f"unknown category name(s) {', '.join(repr(u) for u in sorted(set(unknown)))}; map them "
                          "with --label-map NAME=parasitized|uninfected|not-a-cell.")
    return out


def read_coco(path: Path | str, label_map: Mapping[str, Kind] | None = None) -> CocoFile:
    """Parse and check a COCO file (structure, categories, boxes inside their stated image size)."""
    path = Path(path)
    data = _load_json(path)
    kinds = _categories(path, data, label_map or {})
    files: dict[Any, str] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for img in data["images"]:
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise _fail(path, f"an image entry without id or file_name: {str(img)[:80]}")
        name = Path(img["file_name"].replace("\\", "/")).name
        files[img["id"]] = name
        sizes[name] = (int(img.get("height") or 0), int(img.get("width") or 0))
    boxes: dict[str, list[Box]] = {name: [] for name in files.values()}
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            raise _fail(path, f"an annotation that is not an object: {str(ann)[:80]}")
        if ann.get("image_id") not in files:
            raise _fail(path, f"annotation {ann.get('id')} refers to image id {ann.get('image_id')!r}, "
                              "which is not in 'images'.")
        if ann.get("category_id") not in kinds:
            raise _fail(path, f"annotation {ann.get('id')} has category id {ann.get('category_id')!r}, "
                              "which is not in 'categories'.")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise _fail(path, f"annotation {ann.get('id')} has no [x, y, width, height] bbox.")
        name = files[ann["image_id"]]
        x, y, w, h = (float(v) for v in bbox)
        _check_box(path, name, ann.get("id"), (x, y, w, h), sizes[name])
        boxes[name].append(Box((x, y, w, h), kinds[ann["category_id"]]))
    return CocoFile({k: tuple(v) for k, v in boxes.items()}, sizes)


def _check_box(path: Path, name: str, ann_id: Any, box: tuple[float, float, float, float],
               size: tuple[int, int]) -> None:
    x, y, w, h = box
    height, width = size
    tol = EDGE_TOLERANCE_PX
    if not all(np.isfinite(box)) or w <= 0 or h <= 0:
        raise _fail(path, f"annotation {ann_id} on {name}: box {list(box)} has no area.")
    if x < -tol or y < -tol or (width and x + w > width + tol) or (height and y + h > height + tol):
        raise _fail(path, f"annotation {ann_id} on {name}: box [x {x:g}, y {y:g}, w {w:g}, h {h:g}] lies outside "
                          f"the {width}x{height} image.")


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_boxes(cells: list[tuple[float, float, float, float]], boxes: list[tuple[float, float, float, float]],
                min_iou: float = MATCH_IOU) -> dict[int, int]:
    """Cell index -> box index, one to one, greedy by decreasing IoU (pairs below ``min_iou`` never match)."""
    pairs = sorted(((iou(c, b), i, j) for i, c in enumerate(cells) for j, b in enumerate(boxes)
                    if abs(c[0] - b[0]) < max(c[2], b[2]) and abs(c[1] - b[1]) < max(c[3], b[3])), reverse=True)
    cell_to_box: dict[int, int] = {}
    used: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in cell_to_box and j not in used:
            cell_to_box[i] = j
            used.add(j)
    return cell_to_box


@dataclass(frozen=True)
class AnnotatedFields:
    """The matched cells, and how the matching went (for the technician and the card)."""

    cells: ReviewedCells
    kinds: tuple[Kind, ...]  # per cell: parasitized / uninfected / not_cell (not_cell has label 0)
    boxes: int
    boxes_matched: int
    regions_unmatched: int  # app regions with no box (not_cell or ignored)


def _field_files(fields: Iterable[Path | str]) -> list[Path]:
    from malaria_desktop.core.pipeline import expand_inputs

    problems: list[tuple[Path, str]] = []
    files = expand_inputs([Path(f) for f in fields], problems)
    if problems:
        raise CalibrationInputError(f"Field '{problems[0][0]}': {problems[0][1]}")
    if not files:
        raise CalibrationInputError("No field images were given.")
    return files


def _check_coverage(coco: CocoFile, files: list[Path], source: str) -> None:
    given = {p.name for p in files}
    if len(given) < len(files):
        raise CalibrationInputError("Two fields have the same file name; COCO matches images by file name.")
    extra = sorted(set(coco.boxes) - given)
    if extra:
        raise CalibrationInputError(
            f"Annotations '{source}' describe {len(extra)} image(s) that were not given as fields: "
            f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}. Pass those images too, or remove them "
            "from the file.")
    missing = sorted(given - set(coco.boxes))
    if missing:
        raise CalibrationInputError(
            f"{len(missing)} field(s) have no entry in annotations '{source}': {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}. Annotate them or leave them out.")


def annotated_cells(fields: Iterable[Path | str], annotations: Path | str, size: int, *,
                    unmatched: Unmatched = "not-a-cell", label_map: Mapping[str, Kind] | None = None,
                    segmentation_options: Any = None) -> AnnotatedFields:
    """Segment every field with the app's engine and label its cells from the COCO boxes."""
    coco = read_coco(annotations, label_map)
    files = _field_files(fields)
    _check_coverage(coco, files, Path(annotations).name)
    crops, kinds, names = [], [], []
    n_boxes = n_matched = n_unmatched = 0
    for path in files:
        try:
            image = load_image(path)
        except MalariaDesktopError as exc:
            raise CalibrationInputError(f"Field '{path.name}': {exc}") from exc
        h, w = image.shape[:2]
        stated = coco.sizes[path.name]
        if stated[0] and stated[1] and stated != (h, w):
            raise CalibrationInputError(f"Annotations give {path.name} as {stated[1]}x{stated[0]} but the image is "
                                        f"{w}x{h}: not the annotated image.")
        boxes = coco.boxes[path.name]
        for b in boxes:
            _check_box(Path(annotations), path.name, "", b.bbox, (h, w))
        seg = [c for c in segment_cells(image, segmentation_options).cells if not c.clump]
        match = match_boxes([tuple(map(float, c.bbox)) for c in seg], [b.bbox for b in boxes])  # type: ignore[misc]
        n_boxes, n_matched = n_boxes + len(boxes), n_matched + len(match)
        for i, cell in enumerate(seg):
            kind: Kind | None = boxes[match[i]].kind if i in match else None
            if kind is None:
                n_unmatched += 1
                if unmatched == "ignore":
                    continue
                kind = "not_cell"
            crops.append(crop_cell(image, cell.bbox, cell.mask, size))
            kinds.append(kind)
            names.append(path.name)
    arr = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    labels = np.array([int(k == "parasitized") for k in kinds], np.int64)
    cells = ReviewedCells(arr, labels, tuple(names), tuple(names), (Path(annotations).name,),
                          (f"{n_boxes - n_matched} of {n_boxes} annotated boxes match no cell the app outlines "
                           "(missed by segmentation; not learned)",) if n_boxes > n_matched else (),
                          not_cell=np.array([k == "not_cell" for k in kinds], bool))
    return AnnotatedFields(cells, tuple(kinds), n_boxes, n_matched, n_unmatched)


@dataclass(frozen=True)
class ImportedLabels:
    """What importing a COCO file into an analysed slide did (``label_session``)."""

    images: int
    labelled: int
    boxes: int
    boxes_matched: int
    regions_unmatched: int


def label_session(results: Mapping[str, Any], review: Any, annotations: Path | str, *,
                  unmatched: Unmatched = "not-a-cell", label_map: Mapping[str, Kind] | None = None) -> ImportedLabels:
    """Label an analysed slide's cells from a COCO file, as one undo step, so the technician sees (and can
    correct) what calibration will learn. ``results``: image key -> ``ImageResult``; ``review``: its
    ``ReviewState``. Images are matched by file name; every image of the file must be in the slide."""
    coco = read_coco(annotations, label_map)
    by_name = {Path(r.path).name: (key, r) for key, r in results.items() if r.status == "ok"}
    missing = sorted(set(coco.boxes) - set(by_name))
    if missing:
        raise CalibrationInputError(f"Annotations '{Path(annotations).name}' describe {len(missing)} image(s) that "
                                    f"are not analysed in this slide: {', '.join(missing[:5])}.")
    labelled = n_boxes = n_matched = n_unmatched = 0
    with review.batch():
        for name, boxes in coco.boxes.items():
            key, result = by_name[name]
            for b in boxes:
                _check_box(Path(annotations), name, "", b.bbox, tuple(result.image_shape))
            cells = [cr for cr in result.cells if not cr.cell.clump]
            match = match_boxes([tuple(map(float, cr.cell.bbox)) for cr in cells], [b.bbox for b in boxes])  # type: ignore[misc]
            n_boxes, n_matched = n_boxes + len(boxes), n_matched + len(match)
            for i, cr in enumerate(cells):
                kind = boxes[match[i]].kind if i in match else ("not_cell" if unmatched == "not-a-cell" else None)
                n_unmatched += i not in match
                if kind is not None:
                    review.set_label(key, cr.cell.cell_id, kind)
                    labelled += 1
    return ImportedLabels(len(coco.boxes), labelled, n_boxes, n_matched, n_unmatched)
