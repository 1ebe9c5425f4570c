"""File ▸ Print / Export PDF: the PDF is written, is a real PDF, and holds the figures and the statements."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from malaria_desktop.core.report.printable import build_report, figure_rows
from malaria_desktop.core.review.session import Session, SessionMetadata
from malaria_desktop.core.review.state import image_key
from malaria_desktop.qt.print_report import render_first_page, report_document, write_pdf
from tests.core.test_review import make_result
from tests.qt.pdf_text import pdf_objects, pdf_pages, squash


def _session() -> Session:
    a = make_result("/fields/a.png", [0.9, 0.1, 0.56, 0.45])
    b = make_result("/fields/b.png", [0.2, 0.51, 0.99])
    session = Session(metadata=SessionMetadata("PK/23/0417", "A:1", "J. Doe", "2026-11-30", "thick edge"))
    for r in (a, b):
        session.set_result(r)
    session.model = {"name": "tiny-test-model", "threshold": 0.5}
    session.review.set_label(image_key(a.path), 1, "parasitized")  # one correction
    return session


def _load(path: Path) -> np.ndarray:
    """A field of the size that was analysed (a file of another size is not the analysed one: no pictures)."""
    rng = np.random.default_rng(1)
    width = {"a.png": 200, "b.png": 160}[path.name]  # make_result: 40 per cell + 40
    return rng.integers(0, 255, (100, width, 3), dtype=np.uint8)


def test_pdf_is_written_and_holds_the_figures(tmp_path: Path, qapp) -> None:
    session = _session()
    report = build_report(session, reviewer="R. Eviewer", model_folder="trained_model",
                          band_text="0.30 to 0.70", printed_at=datetime(2026, 12, 1, 9, 30), load=_load)
    assert len(report.thumbs) == report.n_parasitized_total == 5  # 4 automatic + 1 corrected
    probs = [t.probability for t in report.thumbs]
    assert probs == sorted(probs, reverse=True)
    path = write_pdf(report, tmp_path / "out" / "report")
    assert path.name == "report.pdf" and path.read_bytes().startswith(b"%PDF-")
    assert not list(path.parent.glob(".*partial"))
    data = path.read_bytes()
    images = [b for b in pdf_objects(data).values() if b"/Subtype /Image" in b]
    assert len(images) == 5  # one picture per parasitized cell
    text = "".join(pdf_pages(data))
    for expected in ("PK/23/0417", "A:1", "J. Doe", "R. Eviewer", "2026-11-30", "2026-12-01 09:30",
                     "tiny-test-model", "trained_model", "0.30 to 0.70", "Automatic", "Reviewed",
                     "Red cells counted", "Parasitemia", "71.43 %", "57.14 %",  # 5/7 reviewed, 4/7 automatic
                     "3,571,429", "5,000,000 red cells per µL (the default",
                     "Not a certified diagnostic device", "Reviewer's signature", "0.99", "0.90"):
        assert squash(expected) in text, expected
    auto, rev = figure_rows(report)[2][1:]
    assert (auto, rev) == ("57.14 %", "71.43 %")


def test_document_text_and_first_page_picture(qapp) -> None:
    report = build_report(_session(), reviewer="", load=_load, printed_at=datetime(2026, 12, 1, 9, 30))
    plain = report_document(report).toPlainText()
    assert "Hyperparasitemia" in plain and "HYPERPARASITAEMIA" not in plain
    assert "Intended use" in plain and "Reviewer's signature" in plain
    page = render_first_page(report, width_px=600)
    assert page.width() == 600 and page.height() > 800
    pixels = np.asarray(page.constBits()).reshape(page.height(), page.width(), 4)
    assert (pixels[..., :3] < 100).mean() > 0.005  # text was drawn


def test_unreadable_images_leave_empty_frames_not_a_failed_report(tmp_path: Path, qapp) -> None:
    def broken(_path: Path) -> np.ndarray:
        raise OSError("gone")

    report = build_report(_session(), load=broken)
    assert all(t.rgb is None for t in report.thumbs)
    assert write_pdf(report, tmp_path / "r.pdf").stat().st_size > 1000
