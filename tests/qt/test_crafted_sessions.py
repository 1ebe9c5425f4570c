"""Crafted sessions (issue 24, medium): a 190,000-point outline froze the window for over 6 minutes, and a
deeply nested ``model`` entry loaded but made every later autosave fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from malaria_desktop.core.review import session_schema as schema
from malaria_desktop.core.review.session import (
    Session,
    SessionError,
    load_session,
    save_session,
    session_to_dict,
)
from malaria_desktop.qt.autosave import AutosaveStore, snapshot
from malaria_desktop.qt.overlays import MAX_DRAWN_POINTS, CellMark, mark_path
from tests.core.test_export import make_field


def zigzag(n: int, x: int = 10, y: int = 10, side: int = 200) -> list[list[int]]:
    """``n`` points bouncing inside a ``side`` box: the slowest kind of outline to fill."""
    rng = np.random.default_rng(0)
    return (rng.integers(0, side, (n, 2)) + (x, y)).tolist()


def crafted(tmp_path: Path, outline: list[list[int]] | None = None, model: object = None) -> Path:
    session = Session(settings={"threshold": 0.5})
    field = make_field(tmp_path / "f.png")
    session.set_result(field)
    data = session_to_dict(session)
    key = next(iter(data["results"]))
    if outline is not None:
        data["review"]["added"] = {key: [{"cell_id": 1000, "bbox": [10, 10, 40, 40], "label": "parasitized",
                                         "outline": outline}]}
    if model is not None:
        data["model"] = model
    path = tmp_path / "crafted.mdsession"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


def test_an_outline_with_more_points_than_its_box_can_hold_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="190,000 points"):
        load_session(crafted(tmp_path, outline=zigzag(190_000, side=40)))
    ok = [[10, 10], [49, 10], [49, 49], [10, 49]]
    session = load_session(crafted(tmp_path, outline=ok))
    assert session.review.added_cells(next(iter(session.results)))[1000].outline is not None


def test_drawing_a_huge_outline_is_bounded(qapp) -> None:
    """Whatever reaches the view (a result contour up to the schema's limit) is drawn with a bounded path."""
    contour = np.asarray(zigzag(schema.MAX_CONTOUR_POINTS, side=4000), np.int32)
    mark = CellMark(cell_id=1, label="parasitized", auto_label="parasitized", probability=0.9,
                    bbox=(10, 10, 4000, 4000), contour=contour, edited=False, uncertain=False)
    start = time.perf_counter()
    path = mark_path(mark)
    assert path.elementCount() <= MAX_DRAWN_POINTS + 2
    assert time.perf_counter() - start < 5  # seconds; minutes before (Qt fills every self-crossing)


def test_deep_nesting_is_refused_on_load_and_sane_nesting_still_saves(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="nested more than"):
        load_session(crafted(tmp_path, model=nested(600)))
    session = load_session(crafted(tmp_path, model=nested(schema.MAX_DEPTH)))
    store = AutosaveStore(tmp_path / "autosave")
    store.save(snapshot(session))  # the autosave's copy and the JSON writer both cope
    assert load_session(store.path).model == session.model
    save_session(session, tmp_path / "again.mdsession")
    store.close()


def test_a_huge_model_entry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="entries"):
        load_session(crafted(tmp_path, model={"figures": list(range(schema.MAX_ITEMS + 1))}))
