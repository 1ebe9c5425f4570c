"""No label auto-detects rich text; file names are shown literally (issue 13 item 9), and file names that
are not valid UTF-8 are shown with byte escapes, not silently shortened (item 5)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from malaria_desktop.qt.plain_text import plain_tooltip
from tests.qt.waits import wait_idle

HOSTILE = "<h1><font color=red>POSITIVE"  # no "/": it must be a valid file name


def _labels() -> list[QLabel]:
    return [label for top in QApplication.topLevelWidgets() for label in top.findChildren(QLabel)]


def assert_no_auto_text_labels() -> None:
    auto = [(type(lab.parent()).__name__, lab.text()[:40]) for lab in _labels()
            if lab.textFormat() == Qt.TextFormat.AutoText and lab.pixmap().isNull()]  # icons hold no text
    assert not auto, f"labels that guess rich text from their text: {auto}"
    for label in _labels():  # a label that is rich on purpose never carries a file name unescaped
        if label.textFormat() == Qt.TextFormat.RichText:
            assert HOSTILE not in label.text(), label.text()


def test_no_label_guesses_rich_text_and_names_stay_literal(qtbot, make_window, smear_dir, tmp_path) -> None:
    good = tmp_path / f"{HOSTILE}.png"
    shutil.copy(sorted(smear_dir.glob("*.png"))[0], good)
    bad = tmp_path / f"{HOSTILE} broken.png"
    bad.write_bytes(b"not an image")
    window = make_window()
    window.show()
    texts: list[str] = []
    window.progress_strip.label.setText = lambda t, _s=window.progress_strip.label.setText: (texts.append(t), _s(t))
    window.open_paths([good, bad])
    wait_idle(qtbot, window)
    assert any(HOSTILE in t for t in texts)  # "Analysing image 1 of 2: <h1>...": shown literally
    window.show_error("The image could not be read", f"'{bad.name}': not a readable image")
    window.about_dialog()
    from malaria_desktop.qt.dialogs import ExportDialog, SettingsDialog

    SettingsDialog(threshold=0.5, model_threshold=0.5, rbc_per_ul=5_000_000, hyper_cutoff_pct=5.0,
                   target_cells=2000, uncertain_margin=0.15, parent=window).show()
    ExportDialog(tmp_path / HOSTILE, window).show()
    model = window.slide_panel.list.model()
    for row in range(model.rowCount()):
        tooltip = model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
        assert HOSTILE not in tooltip and "&lt;h1&gt;" in tooltip
    qtbot.wait(50)
    assert_no_auto_text_labels()
    boxes = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window]
    for box in boxes:
        box.close()


def test_plain_tooltip_escapes_markup() -> None:
    tip = plain_tooltip(f"{HOSTILE}\nsecond line")
    assert HOSTILE not in tip and "&lt;h1&gt;" in tip and "<br>" in tip


def test_non_utf8_name_is_shown_with_byte_escapes(qtbot, make_window, smear_dir, tmp_path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"champ_caf\xe9.png")
    path = Path(os.fsdecode(raw))
    shutil.copy(sorted(smear_dir.glob("*.png"))[0], path)
    window = make_window()
    window.open_paths([path])
    wait_idle(qtbot, window)
    model = window.slide_panel.list.model()
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DisplayRole) == "champ_caf\\xe9.png"
    assert window.document.entries[0].state == "done"
    assert window.sessions.autosave_now() is not None  # the session with that name can be saved
