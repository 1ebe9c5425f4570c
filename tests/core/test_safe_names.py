"""Export folder names built from typed ids are valid on Windows, macOS and Linux."""

from __future__ import annotations

from pathlib import Path

import pytest

from malaria_desktop.core.safe_names import FORBIDDEN, export_folder_name, safe_folder_name


@pytest.mark.parametrize("text, expected", [
    ("PK/23/0417", "PK-23-0417"),
    ("A:1", "A-1"),
    ('a<b>c"d|e?f*g\\h', "a-b-c-d-e-f-g-h"),
    ("  trailing dots...  ", "trailing dots"),
    ("CON", "_CON"),
    ("con.txt", "_con.txt"),
    ("Lpt1", "_Lpt1"),
    ("COM9 ", "_COM9"),
    ("CONSOLE", "CONSOLE"),
    ("", "report"),
    ("...", "report"),
    ("///", "report"),
    ("tab\there\nnewline", "tab here newline"),
    ("Müller-Łódź", "Müller-Łódź"),
])
def test_safe_folder_name(text: str, expected: str) -> None:
    assert safe_folder_name(text) == expected


def test_no_forbidden_character_survives_any_input() -> None:
    text = "".join(chr(c) for c in range(0, 128)) + FORBIDDEN * 3
    name = safe_folder_name(text)
    assert not set(name) & set(FORBIDDEN)
    assert all(ord(c) >= 32 for c in name)
    assert name == name.strip(" .")


def test_length_is_capped_without_trailing_dot() -> None:
    name = safe_folder_name("a" * 79 + ". b" * 20)
    assert len(name) <= 80 and not name.endswith((".", " "))


def test_export_folder_name_parts() -> None:
    assert export_folder_name("PK/23/0417", "A:1", "2026-12-01") == "PK-23-0417_A-1_2026-12-01"
    assert export_folder_name("", "", "2026-12-01") == "slide_2026-12-01"
    assert export_folder_name("", "") == "slide"
    assert export_folder_name("P1", "") == "P1"
    assert export_folder_name("nul", "") == "_nul"


def test_name_is_one_real_component(tmp_path: Path) -> None:
    """Creating the folder makes exactly one new directory directly under the parent."""
    for raw in ("PK/23/0417", "../../etc", "A:1", "CON", " . "):
        folder = tmp_path / export_folder_name(raw, "s/1")
        folder.mkdir()
        assert folder.parent == tmp_path and folder.is_dir()
