"""Folder and file names that are valid on Windows, macOS and Linux, built from what a technician typed.

Why: an export folder suggested from the raw patient id "PK/23/0417" silently created nested folders, a
slide id "A:1" is invalid on Windows, and an empty id gave ``report_report``. Unicode letters are kept (all
three systems store them); only what one of them forbids or mangles is replaced.
"""

from __future__ import annotations

import re
import unicodedata

FORBIDDEN = '<>:"/\\|?*'
RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
            *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
            "COM\u00b9", "COM\u00b2", "COM\u00b3", "LPT\u00b9", "LPT\u00b2", "LPT\u00b3"}
MAX_NAME = 80  # well under every file system's 255, leaves room for the files inside on Windows' MAX_PATH
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')


def safe_folder_name(text: str, default: str = "report", limit: int = MAX_NAME) -> str:
    """One path component from free text: no separators or forbidden characters, no reserved device
    names (``CON``, ``com1.txt``...), no leading/trailing dots or spaces; ``default`` when nothing is left.
    """
    name = unicodedata.normalize("NFC", str(text))
    name = re.sub(r"\s+", " ", name)  # tabs and line breaks become plain spaces
    name = _UNSAFE.sub("-", name)
    name = re.sub(r"-{2,}", "-", name).strip(" .-")
    name = name[:limit].rstrip(" .-")
    if not name:
        return default
    stem = name.split(".")[0].rstrip(" ").upper()
    if stem in RESERVED:
        name = f"_{name}"
    return name


def export_folder_name(patient_id: str, slide_id: str, date: str = "", default: str = "slide") -> str:
    """The suggested export folder for one slide: ``<patient>_<slide>[_<date>]``, each part made safe.

    Missing parts are left out (no ``report_report``); with nothing typed the name is ``default``
    plus the date when there is one.
    """
    parts = [safe_folder_name(p, default="") for p in (patient_id, slide_id)]
    parts = [p for p in parts if p]
    if not parts:
        parts = [default]
    date_part = safe_folder_name(date, default="")
    if date_part:
        parts.append(date_part)
    return safe_folder_name("_".join(parts), default=default)
