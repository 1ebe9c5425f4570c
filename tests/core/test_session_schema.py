"""Hostile and damaged session files (issue 13 items 2, 5, 7, 13): one schema on load and before save.

Each case is generated from a valid session, changed in one place; every one must end in a SessionError
with a plain message, quickly and without allocating more than a few megabytes.
"""

from __future__ import annotations

import copy
import json
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.review.session import Session, SessionError, load_session, save_session, session_to_dict
from malaria_desktop.core.review.state import image_key
from tests.core.test_session import make_session


@pytest.fixture()
def valid(tmp_path: Path) -> dict[str, Any]:
    return session_to_dict(make_session(tmp_path))


def _first_ok(data: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in data["results"].values() if r["status"] == "ok")


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change at a dotted path; ``cell`` = the first cell of the first ok result."""

    def change(data: dict[str, Any]) -> None:
        parts = path.split(".")
        target: Any = data
        if parts[0] == "cell":
            target, parts = _first_ok(data)["cells"][0], parts[1:]
        elif parts[0] == "result":
            target, parts = _first_ok(data), parts[1:]
        elif parts[0] == "added":
            target, parts = next(iter(data["review"]["added"].values()))[0], parts[1:]
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(parts[-1])] = value
        else:
            target[parts[-1]] = value

    return change


HOSTILE = {
    # issue 13 item 2: settings the summary cannot use
    "rbc_per_ul zero": _set("settings.rbc_per_ul", 0),
    "rbc_per_ul negative": _set("settings.rbc_per_ul", -4),
    "cut-off zero": _set("settings.hyper_cutoff_pct", 0),
    "cut-off above 100": _set("settings.hyper_cutoff_pct", 150),
    "target lots": _set("settings.target_cells", "lots"),
    "target zero": _set("settings.target_cells", 0),
    "threshold text": _set("settings.threshold", "0.5"),
    "edge rule text": _set("settings.count_edge_cells", "no"),
    "settings list": _set("settings", [1, 2]),
    # added-cell boxes (item 2) and giant boxes (item 7)
    "added negative width": _set("added.bbox", [150, 50, -30, 28]),
    "added outside image": _set("added.bbox", [190, 50, 30, 28]),
    "added giant": _set("added.bbox", [0, 0, 20000, 20000]),
    "added text box": _set("added.bbox", ["a", 0, 1, 1]),
    # cells
    "cell giant box": _set("cell.bbox", [0, 0, 20000, 20000]),
    "cell outside image": _set("cell.bbox", [190, 0, 34, 26]),
    "cell negative x": _set("cell.bbox", [-5, 0, 34, 26]),
    "cell float box": _set("cell.bbox", [0.5, 0, 34, 26]),
    "cell bool edge": _set("cell.edge", "yes"),
    "cell probability 7": _set("cell.p", 7),
    "cell contour outside": _set("cell.contour", [0, 0, 5000, 5000]),
    "cell centroid far": _set("cell.centroid", [1e9, 3]),
    "cell area absurd": _set("cell.area", 10**9),
    "cell id text": _set("cell.id", "one"),
    "result giant image": _set("result.image_shape", [200000, 200000]),
    "result negative image": _set("result.image_shape", [-1, 200]),
    "result bad status": _set("result.status", "fine"),
    "result bad sha": _set("result.sha256", "xyz"),
    "result threshold 2": _set("result.threshold", 2.0),
    # types
    "metadata dict": _set("metadata.patient_id", {"a": 1}),
    "metadata huge": _set("metadata.notes", "x" * 200_000),
    "image paths text": _set("image_paths", "a.png"),
    "image path number": _set("image_paths.0", 5),
    "results list": _set("results", []),
    "version bool": _set("version", True),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_session_is_refused_cheaply(name: str, valid: dict[str, Any], tmp_path: Path) -> None:
    data = copy.deepcopy(valid)
    HOSTILE[name](data)
    path = tmp_path / "hostile.mdsession"
    path.write_text(json.dumps(data), encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(SessionError):
            load_session(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{name}: {peak / 2**20:.0f} MB to refuse a {path.stat().st_size} byte file"


def test_three_giant_boxes_do_not_cost_gigabytes(valid: dict[str, Any], tmp_path: Path) -> None:
    """The 69 KB file of item 7: a big image claimed, three 20000 x 20000 boxes inside it."""
    data = copy.deepcopy(valid)
    result = _first_ok(data)
    result["image_shape"] = [10000, 10000]
    for cell in result["cells"][:3]:
        cell["bbox"] = [0, 0, 9999, 9999]
        cell.pop("mask", None)
    path = tmp_path / "giant.mdsession"
    path.write_text(json.dumps(data), encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(SessionError, match="width"):
            load_session(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1e999}'])
def test_nan_and_infinity_are_refused_on_load(text: str, tmp_path: Path) -> None:
    path = tmp_path / "nan.mdsession"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SessionError, match="not valid JSON"):
        load_session(path)


def test_nan_probability_in_file_is_refused(valid: dict[str, Any], tmp_path: Path) -> None:
    text = json.dumps(valid).replace('"p": 0.9', '"p": NaN', 1)
    assert "NaN" in text
    path = tmp_path / "nan.mdsession"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SessionError):
        load_session(path)


def test_deep_nesting_is_a_session_error_not_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.mdsession"
    path.write_text('{"format": "malaria-desktop-session", "version": 1, "model": ' + "[" * 100_000
                    + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(SessionError):
        load_session(path)


def test_session_file_that_is_a_fifo_or_too_large_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from malaria_desktop.core.review import session_schema

    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.mdsession"
        os.mkfifo(fifo)
        with pytest.raises(SessionError, match="not a regular file"):
            load_session(fifo)  # would block forever if read
    big = tmp_path / "big.mdsession"
    big.write_bytes(b" " * 2048)
    monkeypatch.setattr(session_schema, "MAX_SESSION_BYTES", 1024)
    with pytest.raises(SessionError, match="larger than"):
        load_session(big)


def test_invalid_session_is_refused_before_save_and_old_file_kept(tmp_path: Path) -> None:
    session = make_session(tmp_path)
    path = save_session(session, tmp_path / "s.mdsession")
    before = path.read_bytes()
    key = image_key(session.image_paths[0])
    bad = session.results[key]
    cell = bad.cells[0].cell
    outside = replace(bad, cells=(CellResult(replace(cell, bbox=(190, 0, 34, 26)), 0.5, "parasitized"),))
    session.results[key] = outside
    with pytest.raises(SessionError, match="outside"):
        save_session(session, path)
    session.results[key] = bad
    session.model = {"loop": float("nan")}
    with pytest.raises(SessionError):
        save_session(session, path)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    session.model = {"deep": deep}
    with pytest.raises(SessionError):
        save_session(session, path)
    assert path.read_bytes() == before


def test_non_utf8_file_names_round_trip_exactly(tmp_path: Path) -> None:
    """A Latin-1 file name (issue 13 item 5): saved, loaded back to the same path, file found."""
    name = os.fsdecode(b"field_caf\xe9.png")
    image = tmp_path / name
    try:
        image.write_bytes(b"x")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system cannot store non-UTF-8 names")
    cell = Cell(0, (1, 1, 4, 4), (2.5, 2.5), 16, np.ones((4, 4), bool), np.array([[1, 1], [4, 1], [4, 4], [1, 4]],
                                                                                    np.int32), False)
    session = Session()
    session.set_result(ImageResult(image, "ok", image_shape=(10, 10), cells=(CellResult(cell, 0.9, "parasitized"),)))
    loaded = load_session(save_session(session, tmp_path / "s.mdsession"))
    assert loaded.image_paths == [image] and loaded.image_paths[0].is_file()
    assert list(loaded.results) == [image_key(image)]


def test_dates_are_kept_exactly_as_typed(tmp_path: Path) -> None:
    """Item 12 (core side): an empty or unusual date is never replaced by today's."""
    for date in ("", "not a date", "2026-02-30"):
        session = Session()
        session.metadata.date = date
        assert load_session(save_session(session, tmp_path / "d.mdsession")).metadata.date == date
