"""Gallery thumbnails and the PDF's parasite pictures come only from the file that was analysed (issue 24,
medium): a field replaced on disk after analysis showed its new cells under the old outlines and verdicts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.errors import ImageChangedError
from malaria_desktop.core.image_io import file_sha256
from malaria_desktop.core.report.printable import build_report
from malaria_desktop.core.report.thumbnails import analysed_image
from malaria_desktop.core.results import ImageResult
from malaria_desktop.core.review.session import Session
from malaria_desktop.qt.gallery import CellGallery
from malaria_desktop.qt.models import SlideDocument
from tests.core.test_export import H, W, make_field


def analysed_field(path: Path) -> ImageResult:
    field = make_field(path)
    return replace(field, content_sha256=file_sha256(path))


def replace_file(path: Path, shape: tuple[int, int] = (H, W)) -> None:
    """Another picture under the same name (another field the technician saved over the first)."""
    assert cv2.imwrite(str(path), np.full((*shape, 3), (30, 200, 60), np.uint8))


def test_analysed_image_refuses_other_content_and_other_size(tmp_path: Path) -> None:
    result = analysed_field(tmp_path / "f.png")
    assert analysed_image(result.path, result.content_sha256, result.image_shape).shape[:2] == (H, W)
    replace_file(result.path)
    with pytest.raises(ImageChangedError, match="content differs"):
        analysed_image(result.path, result.content_sha256, result.image_shape)
    replace_file(result.path, (H + 10, W))
    with pytest.raises(ImageChangedError, match="size differs"):  # a session from before hashes were kept
        analysed_image(result.path, "", result.image_shape)


def test_pdf_pictures_are_not_cut_from_a_replaced_image(tmp_path: Path) -> None:
    session = Session(settings={"threshold": 0.5})
    session.set_result(analysed_field(tmp_path / "f.png"))
    before = build_report(session).thumbs
    assert before and all(t.rgb is not None for t in before)
    replace_file(tmp_path / "f.png")
    after = build_report(session).thumbs
    assert len(after) == len(before) and all(t.rgb is None for t in after)  # empty frames, not other cells


def test_gallery_thumbnails_are_not_cut_from_a_replaced_image(qtbot, tmp_path: Path) -> None:
    result = analysed_field(tmp_path / "f.png")
    doc = SlideDocument()
    doc.add_paths([result.path])
    doc.set_result(result)
    gallery = CellGallery(doc)
    qtbot.addWidget(gallery)
    cache, model = gallery.model.thumbnails, gallery.model
    item = model.item(0)
    boxes = [(c.cell.cell_id, c.cell.bbox) for c in result.cells]
    with qtbot.waitSignal(cache.ready, timeout=10_000):
        assert cache.get(item, boxes) is None
    assert not cache.get(item, boxes).isNull()
    cache.forget()
    replace_file(result.path)
    with qtbot.waitSignal(cache.ready, timeout=10_000):
        assert cache.get(item, boxes) is None
    assert cache.get(item, boxes).isNull()  # a placeholder
    cache.shutdown()
