"""Export: CSVs with automatic and reviewed figures, annotated PNGs, NIH-layout crops that training can read."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.report.annotate import COLORS, draw_annotations
from malaria_desktop.core.report.export import export_session, patient_group, safe_name
from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review.session import Session, SessionMetadata, load_session

H, W, R = 120, 320, 16
CENTRES = [(30, 40), (80, 40), (130, 40), (180, 40), (230, 40), (280, 80)]
PROBABILITIES = [0.95, 0.05, 0.6, 0.3, 0.1, 0.8]  # parasitized at 0.5: cells 0, 2, 5


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def disk_cell(cell_id: int, cx: int, cy: int) -> Cell:
    size = 2 * R + 1
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (R, R), R, 1, -1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = contours[0].reshape(-1, 2).astype(np.int32) + (cx - R, cy - R)
    return Cell(cell_id, (cx - R, cy - R, size, size), (float(cx), float(cy)), int(mask.sum()),
                mask.astype(bool), contour, False)


def make_field(path: Path) -> ImageResult:
    """A pink-disc field on disk plus its 'automatic' result (no model needed)."""
    bgr = np.full((H, W, 3), (225, 225, 230), np.uint8)
    for cx, cy in CENTRES:
        cv2.circle(bgr, (cx, cy), R, (170, 120, 200), -1)
    assert cv2.imwrite(str(path), bgr)
    cells = tuple(
        CellResult(disk_cell(i, cx, cy), p, "parasitized" if p >= 0.5 else "uninfected")
        for i, ((cx, cy), p) in enumerate(zip(CENTRES, PROBABILITIES, strict=False))
    )
    return ImageResult(path, "ok", image_shape=(H, W), cells=cells, cell_diameter_px=2 * R, threshold=0.5)


@pytest.fixture
def session(tmp_path: Path) -> Session:
    images = tmp_path / "images"
    images.mkdir()
    s = Session(metadata=SessionMetadata("=HYPERLINK(\"x\")", "slide 7", "Ada", "2026-11-25", "n"),
                settings={"threshold": 0.5, "rbc_per_ul": 5_000_000, "hyper_cutoff_pct": 5.0, "target_cells": 2000},
                model={"name": "tiny"})
    s.set_result(make_field(images / "field a.png"))
    s.set_result(make_field(images / "field,b.png"))
    s.set_result(ImageResult(images / "broken.png", "error", error="The file is damaged."))
    return s


def keys(session: Session) -> list[str]:
    return list(session.results)


def test_export_without_edits_matches_automatic(session: Session, tmp_path: Path) -> None:
    summary = export_session(session, tmp_path / "out")
    out = tmp_path / "out"
    cells = read_csv(out / "cells.csv")
    assert len(cells) == 12 and all(c["reviewed"] == "0" for c in cells)
    assert [c["reviewed_label"] for c in cells] == [c["label"] for c in cells]
    images = read_csv(out / "images.csv")
    assert [i["status"] for i in images] == ["ok", "ok", "error"]
    assert images[0]["n_parasitized"] == images[0]["reviewed_n_parasitized"] == "3"
    slide = read_csv(out / "slide.csv")
    assert len(slide) == 1
    assert slide[0]["rbc_counted"] == slide[0]["reviewed_rbc_counted"] == "12"
    assert slide[0]["patient_id"].startswith("'=")  # formula injection neutralised
    assert slide[0]["parasitemia_pct"] == slide[0]["reviewed_parasitemia_pct"] == "50.000"
    # only reviewed cells become crops: none yet
    assert summary.n_crops == {"parasitized": 0, "uninfected": 0}
    assert read_csv(out / "crops" / "manifest.csv") == []
    assert (out / "crops" / "Parasitized").is_dir() and (out / "crops" / "Uninfected").is_dir()
    assert summary.n_annotated == 2 and summary.missing_images == []
    assert load_session(out / "session.mdsession").metadata == session.metadata


def test_edits_change_export(session: Session, tmp_path: Path) -> None:
    a, b, _ = keys(session)
    review = session.review
    review.set_label(a, 1, "parasitized")  # uninfected -> parasitized
    review.set_label(a, 0, "not_cell")  # parasitized -> debris
    review.set_label(b, 3, "uninfected")  # confirmed
    added = review.add_cell(b, (250, 5, 30, 28), "parasitized")
    gone = review.add_cell(b, (0, 90, 20, 20), "uninfected")
    review.set_label(b, gone, "not_cell")

    summary = export_session(session, tmp_path / "out")
    out = tmp_path / "out"
    cells = read_csv(out / "cells.csv")
    assert len(cells) == 14  # 12 segmented + 2 drawn (one of them later rejected)
    by_id = {(Path(c["image"]).name, int(c["cell_id"])): c for c in cells}
    assert by_id[("field a.png", 1)]["label"] == "uninfected"
    assert by_id[("field a.png", 1)]["reviewed_label"] == "parasitized" and by_id[("field a.png", 1)]["reviewed"] == "1"
    assert by_id[("field a.png", 0)]["reviewed_label"] == "not_cell"
    drawn = by_id[("field,b.png", added)]
    assert drawn["probability"] == "" and drawn["label"] == "" and drawn["reviewed_label"] == "parasitized"
    assert (drawn["x"], drawn["width"]) == ("250", "30")
    assert by_id[("field,b.png", gone)]["reviewed_label"] == "not_cell"

    images = {Path(i["image"]).name: i for i in read_csv(out / "images.csv")}
    assert (images["field a.png"]["n_cells"], images["field a.png"]["reviewed_n_cells"]) == ("6", "5")
    assert images["field a.png"]["reviewed_n_parasitized"] == "3" and images["field a.png"]["n_changed"] == "2"
    assert (images["field,b.png"]["reviewed_n_cells"], images["field,b.png"]["reviewed_n_parasitized"]) == ("7", "4")
    assert images["field,b.png"]["n_reviewed"] == "3" and images["field,b.png"]["n_changed"] == "1"
    slide = read_csv(out / "slide.csv")[0]
    assert (slide["rbc_counted"], slide["n_parasitized"]) == ("12", "6")
    assert (slide["reviewed_rbc_counted"], slide["reviewed_n_parasitized"]) == ("12", "7")
    assert slide["n_reviewed"] == "5" and slide["n_changed"] == "3"

    # crops: reviewed cells only, not_cell skipped, NIH layout, names parsed by training's ^C\d+ rule
    assert summary.n_crops == {"parasitized": 2, "uninfected": 1}
    parasitized = sorted(p.name for p in (out / "crops" / "Parasitized").iterdir())
    uninfected = sorted(p.name for p in (out / "crops" / "Uninfected").iterdir())
    assert len(parasitized) == 2 and len(uninfected) == 1
    group = patient_group(session)
    assert re.fullmatch(r"C\d{9}", group)
    for name in parasitized + uninfected:
        assert re.match(r"^C\d+", name).group(0) == group  # type: ignore[union-attr]
    assert any(name.endswith(f"_cell{added}.png") for name in parasitized)
    assert uninfected[0].endswith("_cell3.png")
    crop = cv2.imread(str(out / "crops" / "Uninfected" / uninfected[0]))
    assert crop.shape == (2 * R + 1, 2 * R + 1, 3)
    assert crop[0, 0].tolist() == [0, 0, 0] and crop[R, R].tolist() != [0, 0, 0]  # black outside the cell
    manifest = read_csv(out / "crops" / "manifest.csv")
    assert {m["path"].split("/")[0] for m in manifest} == {"Parasitized", "Uninfected"}
    assert all(m["patient_id"] == group for m in manifest)

    # the training module finds them, with one patient group for the whole session
    from training.data import find_samples

    samples = find_samples([out / "crops"])
    assert sorted(s.label for s in samples) == [0, 1, 1] and {s.patient for s in samples} == {group}

    annotated = cv2.imread(str(out / "annotated" / "01_field_a.png"))
    assert annotated is not None and annotated.shape[1] == W and annotated.shape[0] > H


def test_reexport_moves_relabelled_crops(session: Session, tmp_path: Path) -> None:
    a = keys(session)[0]
    session.review.set_label(a, 4, "parasitized")
    session.review.set_label(a, 5, "parasitized")
    export_session(session, tmp_path / "out", annotate=False)
    session.review.set_label(a, 4, "uninfected")
    session.review.set_label(a, 5, None)  # back to automatic: no longer a reviewed crop
    export_session(session, tmp_path / "out", annotate=False)
    par = list((tmp_path / "out" / "crops" / "Parasitized").iterdir())
    uni = sorted(p.name for p in (tmp_path / "out" / "crops" / "Uninfected").iterdir())
    assert par == [] and len(uni) == 1
    assert not (tmp_path / "out" / "annotated").exists()


def test_reexport_refuses_a_folder_holding_files_it_did_not_write(session: Session, tmp_path: Path) -> None:
    from malaria_desktop.core.report.export import ExportError

    export_session(session, tmp_path / "out", annotate=False)
    stray = tmp_path / "out" / "crops" / "Uninfected" / "my_own_file.png"
    stray.write_bytes(b"not ours")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*"))
    with pytest.raises(ExportError, match="other files"):
        export_session(session, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before


def test_all_cells_crop_mode_and_group_stability(session: Session, tmp_path: Path) -> None:
    session.review.set_label(keys(session)[0], 2, "not_cell")
    summary = export_session(session, tmp_path / "out", crops="all", annotate=False)
    assert summary.n_crops == {"parasitized": 5, "uninfected": 6}
    same_patient = Session(metadata=SessionMetadata(patient_id="=HYPERLINK(\"x\")"))
    other_patient = Session(metadata=SessionMetadata(patient_id="P-2"))
    assert patient_group(same_patient) == patient_group(session) != patient_group(other_patient)
    anonymous = Session(image_paths=[Path("x.png")])
    assert re.fullmatch(r"C\d{9}", patient_group(anonymous))
    assert safe_name("Ünïcode field, #1.tif") == "Unicode_field_1.tif"
    assert safe_name("../../etc") == "etc" and safe_name("") == "image" and safe_name("血液") == "image"


def test_missing_image_still_exports_rows(session: Session, tmp_path: Path) -> None:
    a, b, _ = keys(session)
    session.review.set_label(a, 1, "parasitized")
    session.review.set_label(b, 1, "parasitized")
    Path(a).unlink()
    summary = export_session(session, tmp_path / "out")
    assert summary.missing_images == [Path(a)]
    assert summary.n_annotated == 1 and summary.n_crops["parasitized"] == 1
    images = {Path(i["image"]).name: i for i in read_csv(tmp_path / "out" / "images.csv")}
    assert images["field a.png"]["annotated_png"] == "" and images["field a.png"]["reviewed_n_parasitized"] == "4"
    assert images["field,b.png"]["annotated_png"] == "annotated/02_field_b.png"


def test_settings_threshold_relabels_automatic(session: Session, tmp_path: Path) -> None:
    session.settings = session.settings.replace(threshold=0.7)
    export_session(session, tmp_path / "out", crops="none", annotate=False)
    slide = read_csv(tmp_path / "out" / "slide.csv")[0]
    assert slide["n_parasitized"] == "4" and slide["threshold"] == "0.7"
    assert not (tmp_path / "out" / "crops").exists()


def test_draw_annotations_colours_and_shape(tmp_path: Path) -> None:
    result = make_field(tmp_path / "f.png")
    image = np.full((H, W, 3), 255, np.uint8)
    out = draw_annotations(image, result.cells, {0: "not_cell"}, legend=False)
    assert out.shape == image.shape and image.min() == 255  # input untouched

    def has(colour: tuple[int, int, int], cx: int) -> bool:
        band = out[:, cx - R - 2: cx + R + 3].reshape(-1, 3)
        return bool((np.abs(band.astype(int) - colour).sum(axis=1) < 30).any())

    assert has(COLORS["not_cell"], CENTRES[0][0]) and not has(COLORS["parasitized"], CENTRES[0][0])
    assert has(COLORS["uninfected"], CENTRES[1][0]) and has(COLORS["parasitized"], CENTRES[2][0])
    with pytest.raises(ValueError):
        draw_annotations(image, result.cells, ["parasitized"])
    assert draw_annotations(image, result.cells, title="x").shape[0] > H


def test_unwritable_destination_is_export_error(session: Session, tmp_path: Path) -> None:
    from malaria_desktop.core.report.export import ExportError

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="Could not write the export"):
        export_session(session, blocker)
    with pytest.raises(ExportError):
        export_session(session, blocker / "sub")


# ---------------------------------------------------------------- issue 13: export folder as a unit, hashes


def test_reexport_of_another_patient_keeps_nothing_of_the_first(session: Session, tmp_path: Path) -> None:
    """Item 3: a re-export into a used folder kept the previous patient's annotated/*.png."""
    from malaria_desktop.core.report.manifest import verify_folder

    out = tmp_path / "out"
    export_session(session, out)
    assert len(list((out / "annotated").iterdir())) == 2
    other = Session(metadata=SessionMetadata("patient B"), settings=session.settings)
    other.set_result(session.results[keys(session)[0]])
    export_session(other, out)
    assert [p.name for p in (out / "annotated").iterdir()] == ["01_field_a.png"]
    assert {r["patient_id"] for r in read_csv(out / "slide.csv")} == {"patient B"}
    assert verify_folder(out) == []


def test_failed_export_leaves_the_previous_export_whole(session: Session, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 3: a failed export left patient A's slide.csv beside patient B's cells."""
    from malaria_desktop.core.report import export as export_mod
    from malaria_desktop.core.report.export import ExportError

    out = tmp_path / "out"
    export_session(session, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = []

    def full_after_cells(path, header, rows):
        calls.append(path)
        if Path(path).name == "images.csv":
            raise OSError(28, "No space left on device")
        return real(path, header, rows)

    real = export_mod.report.write_csv_atomic
    monkeypatch.setattr(export_mod.report, "write_csv_atomic", full_after_cells)
    session.metadata.patient_id = "patient B"
    session.review.set_label(keys(session)[0], 1, "parasitized")  # so the new cells.csv differs
    with pytest.raises(ExportError, match="No space"):
        export_session(session, out)
    assert any(Path(c).name == "cells.csv" for c in calls)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "out"]


def test_image_changed_since_analysis_gets_no_outlines_or_crops(session: Session, tmp_path: Path) -> None:
    """Item 8: same name and size, other pixels: crops would be cut from the wrong image, mislabelled."""
    import hashlib
    from dataclasses import replace

    a = keys(session)[0]
    path = Path(a)
    session.results[a] = replace(session.results[a], content_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    session.review.set_label(a, 0, "parasitized")
    bgr = cv2.imread(str(path))
    cv2.imwrite(str(path), 255 - bgr)  # another field under the same name, same size
    summary = export_session(session, tmp_path / "out", crops="all")
    assert summary.missing_images == [path] and "changed since it was analysed" in summary.warnings[0]
    manifest = read_csv(tmp_path / "out" / "crops" / "manifest.csv")
    assert all(m["source_field"] != path.name for m in manifest)
    assert {r["image"]: r["annotated_png"] for r in read_csv(tmp_path / "out" / "images.csv")}[a] == ""


def test_out_of_image_box_is_an_export_error_not_a_value_error(session: Session, tmp_path: Path) -> None:
    """Item 13: an added box outside the image crashed export with a raw ValueError."""
    from malaria_desktop.core.report.export import ExportError

    session.review.add_cell(keys(session)[0], (300, 100, 60, 60), "parasitized")  # 320 x 120 image
    with pytest.raises(ExportError, match="outside"):
        export_session(session, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_png_writes_are_fsynced(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 13: PNG writes were renamed without fsync."""
    from malaria_desktop.core import atomic

    synced: list[str] = []
    real = atomic.os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if Path("/proc/self/fd").is_dir() else str(fd))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    export_session(session, tmp_path / "out")
    assert sum(".png." in s and s.endswith(".tmp") for s in synced) >= 2 or len(synced) > 10


@pytest.mark.skipif(os.name != "posix", reason="Latin-1 bytes in names are a POSIX file-system thing")
def test_non_utf8_image_name_exports(tmp_path: Path) -> None:
    """Item 5: export failed for a slide holding a file name that is not valid UTF-8."""
    from dataclasses import replace

    folder = tmp_path / "usb"
    folder.mkdir()
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), b"champ_caf\xe9.png")))
    field = make_field(folder / "plain.png")  # (cv2.imwrite crashes on such a name; the app never calls it)
    os.rename(folder / "plain.png", path)
    session = Session(metadata=SessionMetadata("p"))
    session.set_result(replace(field, path=path))
    session.review.set_label(str(path), 0, "uninfected")
    summary = export_session(session, tmp_path / "out")
    assert summary.n_annotated == 1 and summary.n_crops["uninfected"] == 1
    assert [Path(r["image"]).name for r in read_csv(tmp_path / "out" / "images.csv")] == ["champ_caf\\xe9.png"]
    assert load_session(tmp_path / "out" / "session.mdsession").image_paths == [path]


def test_slide_csv_has_automatic_and_reviewed_estimates_and_accepted_apart(session: Session, tmp_path: Path) -> None:
    """With the model's error rates in the session: both verdicts and intervals; bulk-accepted cells are
    n_accepted_unseen, not n_reviewed, and leave their parasitized calls unconfirmed."""
    a, b, _ = keys(session)
    session.model = {"name": "tiny", "error_rates": {"tp": 86, "fn": 14, "fp": 1, "tn": 199}}
    session.review.set_label(a, 0, "parasitized")  # looked at and confirmed
    with session.review.acceptance.unseen():
        session.review.set_label(b, 0, "parasitized")
        session.review.set_label(b, 1, "uninfected")
    export_session(session, tmp_path / "out")
    slide = read_csv(tmp_path / "out" / "slide.csv")[0]
    assert slide["n_reviewed"] == "1" and slide["n_accepted_unseen"] == "2"
    for prefix in ("", "reviewed_"):
        assert slide[f"{prefix}slide_result"] == "indeterminate"  # 12 cells: fewer than the minimum count
        low, high = float(slide[f"{prefix}parasitemia_ci_low_pct"]), float(slide[f"{prefix}parasitemia_ci_high_pct"])
        assert low <= float(slide[f"{prefix}parasitemia_estimate_pct"]) <= high
    assert slide["parasites_per_ul"] == ""  # no density without parasites seen
    assert float(slide["reviewed_parasitemia_ci_low_pct"]) > float(slide["parasitemia_ci_low_pct"])  # 1 of 6 calls seen
