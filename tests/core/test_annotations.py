"""COCO annotations -> reviewed cells: synthetic smears (whose cells the generator knows) and a COCO file
written from that truth; every bad input is refused with a message that names it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from malaria_desktop.core.calibration.annotations import (
    annotated_cells,
    iou,
    match_boxes,
    parse_label_map,
    read_coco,
)
from malaria_desktop.core.calibration.data import CalibrationInputError
from malaria_desktop.core.synthetic import write_synthetic_smear

NAMES = {"rbc": "RBC", "wbc": "WBC", "platelet": "Platelets"}


def ellipse_box(cell) -> list[float]:
    a, b = cell.axes if cell.axes != (0.0, 0.0) else (cell.radius, cell.radius)
    t = math.radians(cell.angle_deg)
    hw = math.sqrt((a * math.cos(t)) ** 2 + (b * math.sin(t)) ** 2)
    hh = math.sqrt((a * math.sin(t)) ** 2 + (b * math.cos(t)) ** 2)
    return [cell.centroid[0] - hw, cell.centroid[1] - hh, 2 * hw, 2 * hh]


def write_coco(path: Path, smears: dict[str, object], *, clip: bool = True) -> dict:
    """A COCO file as CVAT writes it: every object boxed, parasitized red cells as 'ring'."""
    cats = [{"id": 1, "name": "RBC"}, {"id": 2, "name": "ring"}, {"id": 3, "name": "WBC"},
            {"id": 4, "name": "Platelets"}]
    images, anns = [], []
    for i, (name, smear) in enumerate(smears.items(), start=1):
        h, w = smear.image.shape[:2]
        images.append({"id": i, "file_name": f"fields/{name}", "width": w, "height": h})
        for cell in smear.cells:
            x, y, bw, bh = ellipse_box(cell)
            if clip:
                x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh)
                x, y, bw, bh = x0, y0, x1 - x0, y1 - y0
            if bw <= 1 or bh <= 1:
                continue
            cat = 2 if cell.parasitized else {"rbc": 1, "wbc": 3, "platelet": 4}[cell.kind]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat, "bbox": [x, y, bw, bh]})
    data = {"images": images, "annotations": anns, "categories": cats}
    path.write_text(json.dumps(data))
    return data


@pytest.fixture(scope="module")
def fields(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("fields")
    smears = {f"f{i}.png": write_synthetic_smear(folder / f"f{i}.png", seed=i, width=640, height=480,
                                                  parasitized_fraction=0.2) for i in range(3)}
    return folder, smears


def test_boxes_match_the_cells_the_app_finds(fields, tmp_path) -> None:
    folder, smears = fields
    coco = tmp_path / "ann.json"
    write_coco(coco, smears)
    out = annotated_cells(sorted(folder.glob("*.png")), coco, 48)
    truth_par = sum(c.parasitized for s in smears.values() for c in s.cells if c.kind == "rbc")
    assert out.boxes_matched >= 0.8 * out.boxes
    assert set(out.cells.fields) == set(smears)
    par = out.kinds.count("parasitized")
    assert 0.7 * truth_par <= par <= truth_par
    assert out.cells.n_parasitized == par  # not_cell and uninfected are both label 0
    assert out.cells.crops.shape[1:] == (48, 48, 3)
    assert out.regions_unmatched == 0  # every region the app outlines on a synthetic field is boxed


def test_regions_without_a_box_are_not_a_cell_or_ignored(fields, tmp_path) -> None:
    folder, smears = fields
    coco = tmp_path / "ann.json"
    data = write_coco(coco, smears)
    data["annotations"] = [a for a in data["annotations"] if a["category_id"] != 1 or a["id"] % 4]  # unboxed cells
    coco.write_text(json.dumps(data))
    out = annotated_cells(sorted(folder.glob("*.png")), coco, 48)
    ignored = annotated_cells(sorted(folder.glob("*.png")), coco, 48, unmatched="ignore")
    assert out.regions_unmatched > 0
    assert out.kinds.count("not_cell") == ignored.kinds.count("not_cell") + out.regions_unmatched
    assert len(ignored.cells) == len(out.cells) - out.regions_unmatched


def test_label_map_and_default_names(tmp_path, fields) -> None:
    folder, smears = fields
    coco = tmp_path / "ann.json"
    data = write_coco(coco, {"f0.png": smears["f0.png"]})
    data["categories"][1]["name"] = "P. vivax"
    coco.write_text(json.dumps(data))
    with pytest.raises(CalibrationInputError, match="unknown category.*P. vivax.*--label-map"):
        read_coco(coco)
    parsed = read_coco(coco, parse_label_map(["P. vivax=parasitized"]))
    assert any(b.kind == "parasitized" for b in parsed.boxes["f0.png"])
    with pytest.raises(CalibrationInputError, match="NAME=CLASS"):
        parse_label_map(["vivax"])


@pytest.mark.parametrize("breakage, message", [
    ("empty", "empty"),
    ("not_json", "not JSON"),
    ("no_lists", "not COCO"),
    ("outside", "outside the 640x480 image"),
    ("extra_image", "not given as fields: ghost.png"),
    ("bad_image_id", "not in 'images'"),
])
def test_bad_annotation_files_are_refused_with_the_reason(tmp_path, fields, breakage, message) -> None:
    folder, smears = fields
    coco = tmp_path / "ann.json"
    data = write_coco(coco, smears)
    if breakage == "empty":
        coco.write_text("")
    elif breakage == "not_json":
        coco.write_text("{images: ")
    elif breakage == "no_lists":
        coco.write_text(json.dumps({"images": {}}))
    elif breakage == "outside":
        data["annotations"][0]["bbox"] = [600, 400, 80, 90]
        coco.write_text(json.dumps(data))
    elif breakage == "extra_image":
        data["images"].append({"id": 99, "file_name": "ghost.png", "width": 640, "height": 480})
        coco.write_text(json.dumps(data))
    elif breakage == "bad_image_id":
        data["annotations"][0]["image_id"] = 42
        coco.write_text(json.dumps(data))
    with pytest.raises(CalibrationInputError, match=message):
        annotated_cells(sorted(folder.glob("*.png")), coco, 48)


def test_a_field_without_annotations_is_refused(tmp_path, fields) -> None:
    folder, smears = fields
    coco = tmp_path / "ann.json"
    write_coco(coco, {"f0.png": smears["f0.png"]})
    with pytest.raises(CalibrationInputError, match="no entry in annotations.*f1.png"):
        annotated_cells(sorted(folder.glob("*.png")), coco, 48)


def test_matching_is_one_to_one_by_overlap() -> None:
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    cells = [(0.0, 0.0, 10.0, 10.0), (1.0, 1.0, 10.0, 10.0), (50.0, 50.0, 10.0, 10.0)]
    boxes = [(0.0, 0.0, 10.0, 10.0), (100.0, 100.0, 5.0, 5.0)]
    assert match_boxes(cells, boxes) == {0: 0}


def test_a_coco_file_labels_an_analysed_slide_as_one_undo_step(fields, tmp_path) -> None:
    from malaria_desktop.core.calibration.annotations import label_session
    from malaria_desktop.core.image_io import load_image
    from malaria_desktop.core.results import CellResult, ImageResult
    from malaria_desktop.core.review.state import ReviewState
    from malaria_desktop.core.segmentation.engine import segment_cells

    folder, smears = fields
    results = {}
    for name in ("f0.png", "f1.png"):
        image = load_image(folder / name)
        cells = tuple(CellResult(c, 0.1, "uninfected") for c in segment_cells(image).cells)
        results[str(folder / name)] = ImageResult(folder / name, "ok", image_shape=image.shape[:2], cells=cells)
    coco = tmp_path / "ann.json"
    write_coco(coco, {k: smears[k] for k in ("f0.png", "f1.png")})
    review = ReviewState()
    done = label_session(results, review, coco)
    truth = sum(c.parasitized for k in ("f0.png", "f1.png") for c in smears[k].cells)
    labels = [review.override(k, cid) for k, v in review.to_dict()["overrides"].items() for cid in map(int, v)]
    assert done.labelled == len(labels) == review.edits_count and done.images == 2
    assert 0.7 * truth <= labels.count("parasitized") <= truth
    review.undo()
    assert review.edits_count == 0  # one step: the technician can take it back whole
    with pytest.raises(CalibrationInputError, match="not analysed in this slide: f2.png"):
        write_coco(coco, smears)
        label_session(results, ReviewState(), coco)
