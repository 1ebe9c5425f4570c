"""Sessions: exact save→load round trip, moved images, damaged files, atomic writes, autosave location."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core import atomic
from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review import session as session_mod
from malaria_desktop.core.review.session import (
    SESSION_VERSION,
    Session,
    SessionError,
    SessionMetadata,
    default_settings,
    load_session,
    missing_images,
    relocate_images,
    save_session,
    session_to_dict,
)
from malaria_desktop.core.review.state import ReviewState, image_key


def blob_cell(cell_id: int, x: int, y: int, hole: bool = False) -> Cell:
    """An irregular cell (ellipse + bump); with ``hole`` a pale-centre hole the contour cannot describe."""
    mask = np.zeros((26, 34), np.uint8)
    cv2.ellipse(mask, (16, 13), (15, 10), 20, 0, 360, 1, -1)
    cv2.circle(mask, (28, 6), 4, 1, -1)
    if hole:
        cv2.circle(mask, (15, 13), 3, 0, -1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = max(contours, key=len).reshape(-1, 2).astype(np.int32) + (x, y)
    ys, xs = np.nonzero(mask)
    centroid = (float(xs.mean() + x), float(ys.mean() + y))
    return Cell(cell_id, (x, y, 34, 26), centroid, int(mask.sum()), mask.astype(bool), contour, x == 0)


def write_png(path: Path) -> Path:
    cv2.imwrite(str(path), np.full((120, 200, 3), 220, np.uint8))
    return path


def make_session(tmp_path: Path) -> Session:
    paths = [write_png(tmp_path / "field 1, \"x\".png"), write_png(tmp_path / "field_2.png")]
    probabilities = [0.123456789012345, 0.9, 1e-7, float(np.float32(0.5))]
    cells = tuple(
        CellResult(blob_cell(i, 40 * i, 10 + i, hole=(i == 2)), p, "parasitized" if p >= 0.5 else "uninfected")
        for i, p in enumerate(probabilities)
    )
    ok = ImageResult(paths[0], "ok", image_shape=(120, 200), cells=cells, cell_diameter_px=27.5,
                     warnings=("blurred",), threshold=0.5)
    err = ImageResult(paths[1], "error", error="The file is damaged.")
    session = Session(
        metadata=SessionMetadata("C123 / pt=7", "S-1", "Ada", "2026-11-25", "notes, \"quoted\"\nline 2 — ü"),
        settings={**default_settings(0.5), "rbc_per_ul": 4_500_000, "hyper_cutoff_pct": 2.0, "target_cells": 1000},
        model={"name": "vgg16-small", "version": "1"},
    )
    session.set_result(ok)
    session.set_result(err)
    session.review.set_label(image_key(paths[0]), 1, "uninfected")
    session.review.set_label(image_key(paths[0]), 3, "not_cell")
    session.review.add_cell(image_key(paths[0]), (150, 50, 30, 28), "parasitized")
    return session


def assert_same_session(a: Session, b: Session) -> None:
    assert a.metadata == b.metadata
    assert a.image_paths == b.image_paths
    assert a.settings == b.settings and a.model == b.model
    assert a.review == b.review
    assert list(a.results) == list(b.results)
    for key, ra in a.results.items():
        rb = b.results[key]
        assert (ra.path, ra.status, ra.error, ra.image_shape, ra.cell_diameter_px, ra.warnings, ra.threshold) == (
            rb.path, rb.status, rb.error, rb.image_shape, rb.cell_diameter_px, rb.warnings, rb.threshold)
        assert len(ra.cells) == len(rb.cells)
        for ca, cb in zip(ra.cells, rb.cells, strict=False):
            assert ca.label == cb.label
            assert ca.probability == cb.probability or (math.isnan(ca.probability) and math.isnan(cb.probability))
            x, y = ca.cell, cb.cell
            assert (x.cell_id, x.bbox, x.centroid, x.area_px, x.on_edge) == (
                y.cell_id, y.bbox, y.centroid, y.area_px, y.on_edge)
            assert np.array_equal(x.contour, y.contour) and y.contour.dtype == np.int32
            assert np.array_equal(x.mask, y.mask) and y.mask.dtype == bool


def test_round_trip_is_exact(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "slide.mdsession")
    loaded = load_session(path)
    assert_same_session(session, loaded)
    assert missing_images(loaded) == []
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == SESSION_VERSION
    cells = data["results"][image_key(session.image_paths[0])]["cells"]
    # masks are rebuilt from contours; only the cell with a hole needs its mask stored
    assert ["mask" in c for c in cells] == [False, False, True, False]
    # saving the loaded session again gives the same document (apart from the time stamp)
    save_session(loaded, tmp_path / "again.mdsession")
    again = json.loads((tmp_path / "again.mdsession").read_text(encoding="utf-8"))
    data.pop("saved_at"), again.pop("saved_at")
    assert again == data


def test_save_after_edit_reflects_edit_and_old_settings_get_defaults(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    path = tmp_path / "s.mdsession"
    save_session(session, path)
    key = image_key(session.image_paths[0])
    session.review.set_label(key, 0, "not_cell")  # results unchanged (cached JSON), review changed
    session.metadata.operator = "Grace"
    save_session(session, path)
    loaded = load_session(path)
    assert loaded.review.override(key, 0) == "not_cell" and loaded.metadata.operator == "Grace"
    assert_same_session(session, loaded)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    expected = session_to_dict(session)
    on_disk.pop("saved_at"), expected.pop("saved_at")
    assert on_disk == expected

    on_disk["settings"] = {"threshold": 0.7}  # a file from before min_cells/count_edge_cells existed
    path.write_text(json.dumps(on_disk), encoding="utf-8")
    assert load_session(path).settings == default_settings().replace(threshold=0.7)


def test_moved_images_load_and_are_reported(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "s.mdsession")
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in session.image_paths:
        p.rename(moved / p.name)
    loaded = load_session(path)
    assert missing_images(loaded) == session.image_paths
    assert loaded.results[image_key(session.image_paths[0])].n_cells == 4  # results still there

    found = relocate_images(loaded, moved)
    assert sorted(found) == sorted(moved / p.name for p in session.image_paths)
    assert missing_images(loaded) == []
    new_key = image_key(moved / session.image_paths[0].name)
    assert loaded.results[new_key].path == moved / session.image_paths[0].name
    assert loaded.review.override(new_key, 1) == "uninfected"
    assert len(loaded.review.added_cells(new_key)) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "damaged"),
        (b"{\"format\": \"malaria-desktop-session\", \"version\": 1, \"results\": {", "damaged"),
        (b"\xff\xfe\x00garbage", "damaged"),
        (b"[1, 2, 3]", "not a Malaria Desktop session"),
        (b"{\"format\": \"malaria-desktop-session\", \"version\": 99}", "newer"),
        (b"{\"format\": \"malaria-desktop-session\", \"version\": 1, \"image_paths\": []}", "damaged"),
    ],
)
def test_corrupt_file_gives_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mdsession"
    path.write_bytes(content)
    with pytest.raises(SessionError, match=message):
        load_session(path)
    assert path.read_bytes() == content  # loading never touches the file


def test_damaged_cell_data_is_session_error(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    data = session_mod.session_to_dict(session)
    path = tmp_path / "s.mdsession"
    for field, value in [("bbox", [1, 2]), ("bbox", [0, 0, 10**9, 10**9]), ("contour", [1, 2, 3]),
                         ("label", "maybe"), ("mask", "!!"), ("centroid", None)]:
        damaged = json.loads(json.dumps(data))
        cell = next(iter(damaged["results"].values()))["cells"][2]
        cell[field] = value
        if field == "mask":
            cell["mask_shape"] = [26, 34]
        path.write_text(json.dumps(damaged), encoding="utf-8")
        with pytest.raises(SessionError, match="damaged"):
            load_session(path)


def test_missing_file_is_session_error(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="does not exist"):
        load_session(tmp_path / "nope.mdsession")


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "s.mdsession")
    before = path.read_bytes()

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    session.metadata.notes = "changed"
    with pytest.raises(SessionError, match="No space left"):
        save_session(session, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_empty_session_round_trip(tmp_path: Path) -> None:
    empty = Session()
    loaded = load_session(save_session(empty, tmp_path / "e.mdsession"))
    assert_same_session(empty, loaded)
    assert isinstance(loaded.review, ReviewState) and not loaded.review.can_undo


def test_real_analysis_round_trip_and_export(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Segmenter + test-made model output survives save→load exactly, and its crops feed training's path."""
    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.classification.crops import crop_cell
    from malaria_desktop.core.report.export import export_session
    from malaria_desktop.core.segmentation.engine import segment_cells
    from malaria_desktop.core.synthetic import generate_smear

    classifier = Classifier.load(tiny_model_dir)
    session = Session(settings=default_settings(classifier.threshold))
    for seed in (3, 4):
        smear = generate_smear(seed=seed, width=640, height=480)
        path = tmp_path / f"smear_{seed}.png"
        cv2.imwrite(str(path), cv2.cvtColor(smear.image, cv2.COLOR_RGB2BGR))
        seg = segment_cells(smear.image)
        size = classifier.input_size
        p = classifier.predict(np.stack([crop_cell(smear.image, c.bbox, c.mask, size) for c in seg.cells]))
        cells = tuple(CellResult(c, float(q), "parasitized" if q >= classifier.threshold else "uninfected")
                      for c, q in zip(seg.cells, p, strict=False))
        session.set_result(ImageResult(path, "ok", image_shape=seg.image_shape, cells=cells,
                                       cell_diameter_px=seg.cell_diameter_px, warnings=seg.warnings,
                                       threshold=classifier.threshold))
    assert sum(r.n_cells for r in session.results.values()) > 20
    key = image_key(session.image_paths[0])
    first = session.results[key].cells[0]
    session.review.set_label(key, first.cell.cell_id, "parasitized")
    loaded = load_session(save_session(session, tmp_path / "s.mdsession"))
    assert_same_session(session, loaded)

    export_session(loaded, tmp_path / "out")
    crop_file = next((tmp_path / "out" / "crops" / "Parasitized").glob(f"*_cell{first.cell.cell_id}.png"))
    exported = cv2.cvtColor(cv2.imread(str(crop_file)), cv2.COLOR_BGR2RGB)
    # training re-normalises an NIH-style crop with crop_cell(mask=None); it must match what the app classifies
    h, w = exported.shape[:2]
    via_training = crop_cell(exported, (0, 0, w, h), None, 32).astype(int)
    via_app = crop_cell(cv2.cvtColor(cv2.imread(str(session.image_paths[0])), cv2.COLOR_BGR2RGB),
                        first.cell.bbox, first.cell.mask, 32).astype(int)
    assert np.abs(via_training - via_app).mean() < 6
