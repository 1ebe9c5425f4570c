"""Reports: counts and CSVs, the export folder with its manifest, annotated images and the printable report.

Why a package: every output reads the same counts (``counts``) and writes through the same atomic writer;
together they are what leaves the app. Other packages use only the names below.
"""

from malaria_desktop.core.report.annotate import COLORS, draw_annotations
from malaria_desktop.core.report.counts import (
    CELL_COLUMNS,
    IMAGE_COLUMNS,
    SLIDE_COLUMNS,
    AtomicCsvWriter,
    ImageSummary,
    SlideSummary,
    cell_rows,
    counted,
    neutralise,
    summarise_image,
    summarise_slide,
    write_cells_csv,
    write_csv_atomic,
    write_images_csv,
    write_slide_csv,
)
from malaria_desktop.core.report.export import ExportError, export_session, patient_group, safe_name
from malaria_desktop.core.report.manifest import read_manifest, unlisted_files, verify_folder, write_manifest
from malaria_desktop.core.report.printable import (
    PrintableReport,
    build_report,
    figure_rows,
    flag_words,
    rbc_assumption,
    report_html,
)
from malaria_desktop.core.report.thumbnails import image_thumbnails

__all__ = [
    "AtomicCsvWriter",
    "CELL_COLUMNS",
    "COLORS",
    "ExportError",
    "IMAGE_COLUMNS",
    "ImageSummary",
    "PrintableReport",
    "SLIDE_COLUMNS",
    "SlideSummary",
    "build_report",
    "cell_rows",
    "counted",
    "draw_annotations",
    "export_session",
    "figure_rows",
    "flag_words",
    "image_thumbnails",
    "neutralise",
    "patient_group",
    "rbc_assumption",
    "read_manifest",
    "report_html",
    "safe_name",
    "summarise_image",
    "summarise_slide",
    "unlisted_files",
    "verify_folder",
    "write_cells_csv",
    "write_csv_atomic",
    "write_images_csv",
    "write_manifest",
    "write_slide_csv",
]
