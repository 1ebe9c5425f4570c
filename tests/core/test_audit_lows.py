"""Low items of the issue-24 audit that are fixed: a card's ``onnx_file`` outside its folder, uncounted clump
cells listed as parasitized in the PDF, right-to-left overrides and 10 KB names in the PDF, a dangling
``--out`` link followed, a 20 GB non-image hashed before it is refused."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from malaria_desktop.core import pipeline
from malaria_desktop.core.atomic import AtomicFolder, write_text
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.classification.model_card import ModelError, parse_model_card
from malaria_desktop.core.errors import UnsafeTargetError
from malaria_desktop.core.report.printable import build_report, parasitized_cells, report_html
from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review.session import Session, SessionMetadata
from tests.core.test_review import make_result

CARD = {"format_version": 1, "input_size": 32, "preprocessing": {"crop": "crop_cell", "scale": 1 / 255,
        "channel_order": "RGB", "layout": "NHWC"}, "output": {"kind": "sigmoid"},
        "class_names": ["uninfected", "parasitized"], "threshold": 0.5}


@pytest.mark.parametrize("name", ["../elsewhere.onnx", "/etc/model.onnx", "sub/model.onnx", "..", "",
                                  "C:\\models\\x.onnx"])
def test_a_cards_onnx_file_must_be_inside_its_folder(name: str) -> None:
    with pytest.raises(ModelError, match="onnx_file"):
        parse_model_card({**CARD, "onnx_file": name})
    assert parse_model_card({**CARD, "onnx_file": "model v2.onnx"}).onnx_file == "model v2.onnx"


def test_the_pdf_does_not_list_uncounted_clump_cells() -> None:
    result = make_result("/x/a.png", [0.9, 0.8])
    clump = replace(result.cells[1], cell=replace(result.cells[1].cell, clump=True))
    session = Session()
    session.set_result(replace(result, cells=(result.cells[0], clump)))
    assert [cid for _k, cid, _p, _b in parasitized_cells(session)] == [0]


def test_the_pdf_shows_no_direction_overrides_and_cuts_huge_names() -> None:
    session = Session(metadata=SessionMetadata(patient_id="PT-1 \u202eevitisoP", slide_id="S" * 10_000))
    long_name = "f" * 10_000 + ".png"
    session.set_result(ImageResult(Path(f"/x/{long_name}"), "error", error="not an image"))
    page = report_html(build_report(session, load=lambda p: None))
    assert "\u202e" not in page and "PT-1 evitisoP" in page
    assert "S" * 1000 not in page and "f" * 100 not in page and len(page) < 20_000


def test_a_dangling_out_link_is_not_followed(tmp_path: Path) -> None:
    link = tmp_path / "report"
    link.symlink_to(tmp_path / "elsewhere" / "gone")
    with pytest.raises(UnsafeTargetError, match="does not exist"):
        with AtomicFolder(link, allowed=frozenset({"a.csv"})) as stage:
            write_text(stage / "a.csv", "x")
    assert not (tmp_path / "elsewhere").exists() and link.is_symlink()


@pytest.mark.skipif(os.name != "posix", reason="a sparse file")
def test_a_huge_non_image_is_refused_before_it_is_hashed(tmp_path: Path, tiny_model_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    huge = tmp_path / "field.png"
    with huge.open("wb") as handle:  # 20 GB that take no disk: a sparse file, zeros, no PNG header
        handle.truncate(20 * 2**30)
    hashed: list[Path] = []
    monkeypatch.setattr(pipeline, "file_sha256", lambda p: hashed.append(Path(p)) or "0" * 64)
    run = pipeline.analyze_images([huge], Classifier.load(tiny_model_dir))
    results = []
    try:
        while True:
            event = next(run)
            if isinstance(event, ImageResult):
                results.append(event)
    except StopIteration:
        pass
    assert [r.status for r in results] == ["error"] and hashed == []
