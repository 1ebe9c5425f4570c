"""File ▸ Print / Export PDF…: lays the core report out on A4 pages with ``QTextDocument`` + ``QPdfWriter``.

Qt's own printing, no new dependency: the HTML and figures come from ``core.printable_report``; this
module adds the thumbnail pixels as document resources, paginates, and writes the file atomically
(temporary file + rename, so a failed write never leaves half a PDF under the chosen name).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, QUrl
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

from malaria_desktop.core.printable_report import PrintableReport, report_html

PAGE_MARGIN_MM = 15.0


def _qimage(rgb) -> QImage:
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def report_document(report: PrintableReport) -> QTextDocument:
    """The report as a QTextDocument with its thumbnails registered as image resources."""
    doc = QTextDocument()
    for i, thumb in enumerate(report.thumbs):
        if thumb.rgb is not None:
            doc.addResource(QTextDocument.ResourceType.ImageResource.value, QUrl(f"thumb/{i}.png"),
                            _qimage(thumb.rgb))
    doc.setHtml(report_html(report))
    return doc


def write_pdf(report: PrintableReport, path: str | Path) -> Path:
    """Write the report as an A4 PDF at ``path`` (atomically); returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".pdf":
        path = path.with_name(path.name + ".pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    writer = QPdfWriter(str(tmp))
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(*(PAGE_MARGIN_MM,) * 4), QPageLayout.Unit.Millimeter))
    writer.setResolution(300)
    writer.setTitle("Malaria thin-smear screening report")
    writer.setCreator("Malaria Desktop")
    doc = report_document(report)
    doc.print_(writer)
    del writer  # closes and flushes the file
    try:
        if tmp.stat().st_size < 1000:
            raise OSError(f"the PDF writer produced no output at {tmp}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def render_first_page(report: PrintableReport, width_px: int = 1240) -> QImage:
    """The first page as a picture (the docs' screenshot; QtPdf is not in pyside6-essentials).

    Lays out the same QTextDocument on an A4-shaped page with the PDF's margins.
    """
    a4 = QPageSize(QPageSize.PageSizeId.A4).size(QPageSize.Unit.Millimeter)
    scale = width_px / a4.width()  # px per mm
    height_px = int(round(a4.height() * scale))
    margin = PAGE_MARGIN_MM * scale
    doc = report_document(report)
    zoom = 2.0  # layout at half the pixel size: text the size it prints at 150 dpi
    doc.setPageSize(QSizeF((width_px - 2 * margin) / zoom, (height_px - 2 * margin) / zoom))
    image = QImage(width_px, height_px, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.translate(margin, margin)
    painter.scale(zoom, zoom)
    doc.drawContents(painter, QRectF(0, 0, doc.pageSize().width(), doc.pageSize().height()))
    painter.end()
    return image
