"""File ▸ Print / Export PDF…: lays the core report out on A4 pages with ``QTextDocument`` + ``QPdfWriter``.

Qt's own printing, no new dependency: the HTML and figures come from ``core.report.printable``; this
module adds the thumbnail pixels as document resources, paginates, and writes the file atomically
(temporary file + rename, so a failed write never leaves half a PDF under the chosen name).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QObject, QRectF, QSizeF, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

from malaria_desktop.core.atomic import write_bytes
from malaria_desktop.core.errors import UnsafeTargetError
from malaria_desktop.core.report.printable import PrintableReport, report_html
from malaria_desktop.core.safe_names import export_folder_name
from malaria_desktop.qt.actions import ActionId
from malaria_desktop.qt.controllers.context import ControllerContext

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
    buffer = QBuffer()  # rendered in memory, then written by core.atomic (fsync, no symlink/device replaced)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(*(PAGE_MARGIN_MM,) * 4), QPageLayout.Unit.Millimeter))
    writer.setResolution(300)
    writer.setTitle("Malaria thin-smear screening report")
    writer.setCreator("Malaria Desktop")
    doc = report_document(report)
    doc.print_(writer)
    del writer  # finishes the document
    data = bytes(buffer.data().data())
    if len(data) < 1000:
        raise OSError(f"the PDF writer produced no output for {path}")
    return write_bytes(path, data)


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


class PdfReportController(QObject):
    """Owns File ▸ Print / Export PDF…: asks for the reviewer's name and a file, writes the PDF."""

    written = Signal(object)  # Path of the PDF just written

    def __init__(self, ctx: ControllerContext, *, model_folder: Callable[[], str],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = ctx.document
        self.settings = ctx.settings
        self.actions = actions = ctx.actions
        self.dialog_parent = ctx.dialog_parent
        self.status = ctx.status
        self.show_error = ctx.show_error
        self.commit_metadata = ctx.commit_metadata
        self.model_folder = model_folder
        self.band_text = lambda: ctx.band().describe()
        actions[ActionId.PRINT_PDF].triggered.connect(self.print_dialog)

    def suggested_path(self) -> Path:
        meta = self.document.metadata
        name = export_folder_name(meta.patient_id, meta.slide_id, meta.date, default="slide")
        return Path(self.settings.last_dir()) / f"{name}_report.pdf"

    def print_dialog(self) -> Path | None:
        self.commit_metadata()
        meta = self.document.metadata
        reviewer, ok = QInputDialog.getText(self.dialog_parent, "Print / Export PDF",
                                            "Reviewer (printed on the report, above the signature line):",
                                            text=str(self.settings.value("report/reviewer", meta.operator)))
        if not ok:
            return None
        self.settings.set_value("report/reviewer", reviewer.strip())
        path, _filter = QFileDialog.getSaveFileName(self.dialog_parent, "Save the report as PDF",
                                                    str(self.suggested_path()), "PDF files (*.pdf)")
        return self.write_to(Path(path), reviewer.strip()) if path else None

    def write_to(self, path: Path, reviewer: str = "") -> Path | None:
        """Build the report from the document and write it (thumbnails read the images: a second or so)."""
        from malaria_desktop.core.report.printable import build_report

        self.commit_metadata()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            report = build_report(self.document.session, reviewer=reviewer, model_folder=self.model_folder(),
                                  band_text=self.band_text())
            out = write_pdf(report, path)
        except (OSError, UnsafeTargetError) as exc:
            self.show_error("The PDF could not be written", f"{path}: {exc}", "")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.settings.set_last_dir(out.parent)
        self.status(f"Report written to {out}.", 8000)
        self.written.emit(out)
        return out
