"""Report maths (parasitemia, parasites/uL, WHO counting flags) and safe CSV writing."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

import malaria_desktop.core.report.counts as report
from malaria_desktop.core import atomic
from malaria_desktop.core.report.counts import (
    CELL_COLUMNS,
    IMAGE_COLUMNS,
    SLIDE_COLUMNS,
    AtomicCsvWriter,
    neutralise,
    summarise_image,
    summarise_slide,
    write_cells_csv,
    write_csv_atomic,
    write_images_csv,
    write_slide_csv,
)
from malaria_desktop.core.results import Cell, CellResult, ImageResult


def make_result(name: str, labels: list[str], edge: list[bool] | None = None, warnings=()) -> ImageResult:
    edge = edge or [False] * len(labels)
    cells = []
    for i, (label, on_edge) in enumerate(zip(labels, edge, strict=False)):
        cell = Cell(cell_id=i, bbox=(10 * i, 5, 8, 9), centroid=(10 * i + 4.0, 9.5), area_px=60,
                    mask=np.ones((9, 8), bool), contour=np.zeros((0, 2), np.int32), on_edge=on_edge)
        cells.append(CellResult(cell, 0.9 if label == "parasitized" else 0.1, label))  # type: ignore[arg-type]
    return ImageResult(path=Path(name), status="ok", image_shape=(100, 100), cells=tuple(cells), warnings=warnings)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


# ---------------------------------------------------------------- maths


def test_image_parasitemia_and_parasites_per_ul() -> None:
    s = summarise_image(make_result("a.png", ["parasitized"] * 3 + ["uninfected"] * 97), rbc_per_ul=4_000_000)
    assert (s.n_cells, s.n_parasitized) == (100, 3)
    assert s.parasitemia_pct == pytest.approx(3.0)
    assert s.parasites_per_ul == pytest.approx(120_000)


def test_image_without_cells_has_undefined_parasitemia() -> None:
    s = summarise_image(make_result("empty.png", []))
    assert s.parasitemia_pct is None and s.parasites_per_ul is None
    assert "no_cells_found" in s.flags


def test_error_image_counts_nothing() -> None:
    s = summarise_image(ImageResult(path=Path("bad.png"), status="error", error="File is empty."))
    assert (s.status, s.error, s.n_cells) == ("error", "File is empty.", 0)


def test_edge_cells_counted_by_default_and_optionally_excluded() -> None:
    r = make_result("e.png", ["parasitized", "uninfected", "parasitized", "uninfected"],
                    edge=[True, True, False, False])
    assert summarise_image(r).n_cells == 4
    s = summarise_image(r, count_edge_cells=False)
    assert (s.n_cells, s.n_parasitized) == (2, 1)
    assert summarise_slide([r], count_edge_cells=False).rbc_counted == 2


def test_slide_pools_images_and_flags_small_counts() -> None:
    results = [make_result("a.png", ["parasitized"] * 2 + ["uninfected"] * 198),
               make_result("b.png", ["uninfected"] * 100),
               ImageResult(path=Path("c.png"), status="error", error="truncated")]
    s = summarise_slide(results)
    assert (s.n_images, s.n_images_ok, s.n_images_error) == (3, 2, 1)
    assert (s.rbc_counted, s.n_parasitized) == (300, 2)
    assert s.parasitemia_pct == pytest.approx(200 / 300)
    assert s.parasites_per_ul == pytest.approx(2 / 300 * 5_000_000)
    assert not s.target_reached
    assert {"fewer_than_500_rbc", "below_2000_target", "some_images_failed"} <= set(s.flags)
    assert "hyperparasitaemia" not in s.flags


def test_slide_target_and_hyperparasitaemia_cutoff() -> None:
    r = make_result("a.png", ["parasitized"] * 120 + ["uninfected"] * 1880)
    s = summarise_slide([r], hyper_cutoff_pct=5.0)
    assert s.target_reached and s.flags == ("hyperparasitaemia",)  # 6 % >= 5 %
    assert summarise_slide([r], hyper_cutoff_pct=10.0).flags == ()
    assert "hyperparasitaemia" in summarise_slide([r], hyper_cutoff_pct=6.0).flags  # at the cut-off counts
    custom = summarise_slide([r], target_cells=3000, min_cells=2500)
    assert {"below_3000_target", "fewer_than_2500_rbc"} <= set(custom.flags)


def test_slide_from_summaries_equals_slide_from_results() -> None:
    results = [make_result("a.png", ["parasitized", "uninfected"], edge=[False, True]),
               make_result("b.png", ["uninfected"])]
    a = summarise_slide(results, count_edge_cells=False)
    b = summarise_slide([summarise_image(r, count_edge_cells=False) for r in results], count_edge_cells=False)
    assert a == b


def test_no_images_at_all() -> None:
    s = summarise_slide([])
    assert s.parasitemia_pct is None and "no_images_analysed" in s.flags


def test_invalid_settings_rejected() -> None:
    with pytest.raises(ValueError):
        summarise_slide([], rbc_per_ul=0)
    with pytest.raises(ValueError):
        summarise_slide([], hyper_cutoff_pct=0)


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"x\")",
                                  "\n=1+1", " =1+1", "\uff1dSUM(A1)", "\uff0bcmd", "\uff0d2", "\uff20SUM(A1)"])
def test_neutralise_formula_starts(text: str) -> None:
    assert neutralise(text) == "'" + text


def test_neutralise_leaves_data_alone() -> None:
    assert neutralise("a=b") == "a=b"
    assert neutralise(-3) == -3 and neutralise(1.5) == 1.5
    assert neutralise(None) == "" and neutralise(True) == 1


def test_non_utf8_file_name_is_written_with_byte_escapes(tmp_path: Path) -> None:
    """Latin-1 bytes in a file name (issue 13 item 5): the CSV is written, the name stays unambiguous."""
    name = os.fsdecode(b"caf\xe9 field.png")  # how Python sees such a name on Linux
    path = write_cells_csv(tmp_path / "cells.csv", [make_result(name, ["parasitized"])])
    assert read_csv(path)[1][0] == "caf\\xe9 field.png"
    assert write_images_csv(tmp_path / "images.csv", [summarise_image(make_result(name, []))]).is_file()


def test_public_helpers_replace_private_ones() -> None:
    r = make_result("e.png", ["parasitized", "uninfected"], edge=[True, False])
    assert report.counted(r, True) == (2, 1) and report.counted(r, False) == (1, 0)
    assert report.format_number(None, 2) == "" and report.format_number(float("nan"), 2) == ""
    assert report.format_number(2.345, 1) == "2.3"


def test_csv_quoting_unicode_and_injection(tmp_path: Path) -> None:
    names = ['a,b.png', 'say "hi".png', "ĉelo_血液_é.png", "=cmd|' /C calc'!A0.png", "line\nbreak.png"]
    results = [make_result(n, ["parasitized", "uninfected"]) for n in names]
    path = write_cells_csv(tmp_path / "cells.csv", results)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM
    rows = read_csv(path)
    assert tuple(rows[0]) == CELL_COLUMNS
    images = [r[0] for r in rows[1:]]
    assert images[::2] == names[:3] + ["'" + names[3]] + names[4:]
    first = dict(zip(rows[0], rows[1], strict=False))
    assert first == {"image": "a,b.png", "cell_id": "0", "x": "0", "y": "5", "width": "8", "height": "9",
                     "centroid_x": "4.0", "centroid_y": "9.5", "area_px": "60", "probability": "0.9000",
                     "label": "parasitized", "edge": "0", "clump": "0"}
    for row in rows[1:]:
        assert not row[0].startswith(("=", "+", "-", "@"))


def test_images_and_slide_csv(tmp_path: Path) -> None:
    results = [make_result("a.png", ["parasitized"] + ["uninfected"] * 9, warnings=("blurred",)),
               ImageResult(path=Path("-bad.png"), status="error", error="=not an image")]
    summaries = [summarise_image(r) for r in results]
    rows = read_csv(write_images_csv(tmp_path / "images.csv", summaries))
    assert tuple(rows[0]) == IMAGE_COLUMNS
    assert rows[1] == ["a.png", "ok", "", "10", "1", "10.000", "500000", "blurred", "0", "0.0"]
    assert rows[2] == ["'-bad.png", "error", "'=not an image", "0", "0", "", "", "", "0", ""]
    slide = read_csv(write_slide_csv(tmp_path / "slide.csv", summarise_slide(summaries)))
    assert tuple(slide[0]) == SLIDE_COLUMNS
    got = dict(zip(slide[0], slide[1], strict=False))
    assert got["rbc_counted"] == "10" and got["n_images_error"] == "1" and got["target_reached"] == "0"
    assert got["flags"] == "some_images_failed;fewer_than_500_rbc;below_2000_target;hyperparasitaemia"
    assert "Not a certified diagnostic device" in got["intended_use"]


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    write_csv_atomic(target, ["a"], [[1]])
    write_csv_atomic(target, ["a"], [[2], [3]])
    assert read_csv(target) == [["a"], ["2"], ["3"]]
    assert os.listdir(tmp_path) == ["r.csv"]


def test_failure_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    write_csv_atomic(target, ["a"], [["old"]])
    before = target.read_bytes()

    def rows():
        yield ["new 1"]
        yield ["new 2"]
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_csv_atomic(target, ["a"], rows())
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["r.csv"]


def test_failure_at_rename_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.csv"
    write_csv_atomic(target, ["a"], [["old"]])

    def broken_replace(src, dst):
        raise PermissionError("file is open in Excel")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        write_csv_atomic(target, ["a"], [["new"]])
    assert read_csv(target) == [["a"], ["old"]]
    assert os.listdir(tmp_path) == ["r.csv"]


def test_streaming_writer_interrupted(tmp_path: Path) -> None:
    target = tmp_path / "cells.csv"
    with pytest.raises(KeyboardInterrupt):
        with AtomicCsvWriter(target, ["a", "b"]) as w:
            w.writerow({"a": 1, "b": "x"})
            raise KeyboardInterrupt
    assert not target.exists() and os.listdir(tmp_path) == []


def test_row_length_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 values for 1 columns"):
        write_csv_atomic(tmp_path / "x.csv", ["a"], [[1, 2]])
    assert os.listdir(tmp_path) == []
