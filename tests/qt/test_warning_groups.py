"""Warnings grouped by kind: one line per kind with the number of images, expandable to the images."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from malaria_desktop.qt.warning_groups import WarningTree, group_warnings, warned_keys, warning_kind
from tests.helpers.factories import error_result, image_result


def _results():
    results = {}
    for i in range(30):
        warnings = [f"uncertain cell size: estimators disagree ({40 + i} px, used {38 + i}); counts may be off"]
        if i % 10 == 0:
            warnings.append(f"very few cells found ({i + 3})")
        results[f"/data/field_{i:02d}.png"] = image_result(f"/data/field_{i:02d}.png", [0.2], warnings=warnings)
    results["/data/broken.png"] = error_result("/data/broken.png", "not an image")
    results["/data/clean.png"] = image_result("/data/clean.png", [0.2])
    return results


def test_kinds_and_counts() -> None:
    assert warning_kind("very few cells found (12)") == "very few cells found"
    assert warning_kind("blurred: the image looks out of focus") == "blurred"
    groups = group_warnings(_results())
    assert [g.title() for g in groups] == ["could not be analysed \u2013 1 image",
                                           "uncertain cell size \u2013 30 images",
                                           "very few cells found \u2013 3 images"]
    assert groups[1].images[0] == ("/data/field_00.png", _results()["/data/field_00.png"].warnings[0])
    assert warned_keys(_results()) == set(_results()) - {"/data/clean.png"}


def test_tree_is_one_line_per_kind_and_expands_to_the_images(qtbot) -> None:
    tree = WarningTree()
    qtbot.addWidget(tree)
    tree.show_groups(group_warnings(_results()))
    tree.show()
    assert tree.topLevelItemCount() == 3 and not tree.topLevelItem(1).isExpanded()
    collapsed = tree.sizeHint().height()
    size = tree.topLevelItem(1)
    assert size.childCount() == 30 and "field_07.png" in size.child(7).text(0)
    assert "estimators disagree (47 px" in size.child(7).toolTip(0)  # the full warning is one hover away
    tree.setCurrentItem(size)
    tree.setFocus()
    with qtbot.waitSignal(tree.itemExpanded):
        QTest.keyClick(tree, Qt.Key.Key_Right)  # the keyboard opens a kind
    assert tree.sizeHint().height() > collapsed
    tree.setCurrentItem(size.child(2))
    with qtbot.waitSignal(tree.imageRequested) as shown:
        QTest.keyClick(tree, Qt.Key.Key_Return)
    assert shown.args == ["/data/field_02.png"]
    tree.show_groups(group_warnings(_results()))  # the same groups again: the open kind stays open
    assert tree.topLevelItem(1).isExpanded()
