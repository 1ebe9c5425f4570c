"""``malaria-desktop calibrate FIELDS... --annotations FILE.json``: synthetic smears (the generator knows
every cell) and a COCO file written from that truth; bad annotation files end with exit 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from malaria_desktop.cli import main
from malaria_desktop.core.synthetic import write_synthetic_smear
from tests.core.test_annotations import write_coco
from tests.helpers.calibration_cells import pretrained_base, synthetic_cells

pytestmark = pytest.mark.slow  # fine-tunes models (calibration): in `make test`, not in `make test-fast`


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    crops, labels, _ = synthetic_cells(range(20))
    return pretrained_base(tmp_path_factory.mktemp("base"), crops, labels)


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    folder = tmp_path_factory.mktemp("fields")
    smears = {f"f{i}.png": write_synthetic_smear(folder / f"f{i}.png", seed=40 + i, width=640, height=480,
                                                  parasitized_fraction=0.25) for i in range(6)}
    coco = folder.parent / "annotations.json"
    data = write_coco(coco, smears)
    return folder, coco, data


@pytest.mark.slow
def test_annotated_fields_calibrate_and_the_card_records_the_count(base_dir, annotated, tmp_path, capsys) -> None:
    folder, coco, _ = annotated
    out = tmp_path / "site"
    code = main(["calibrate", str(folder), "--annotations", str(coco), "--model", str(base_dir), "--out", str(out),
                 "--force"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "boxes matched a cell the app outlines" in captured.err
    assert "Parasitemia of each held-out fold" in captured.out and "unreliable" in captured.out  # 6 fields
    card = json.loads((out / "model_card.json").read_text())
    assert card["calibration"]["reviewed"]["sources"] == ["annotations.json"]
    assert len(card["calibration"]["cross_validation"]["count"]["folds"]) == 3
    assert card["uncertain_band"]["low"] < card["threshold"] < card["uncertain_band"]["high"]


@pytest.mark.parametrize("breakage, message", [
    ("empty", "is empty"),
    ("ghost", "not given as fields: ghost.png"),
    ("outside", "lies outside"),
    ("category", "unknown category name(s) 'Leukocyte blob'"),
])
def test_bad_annotations_exit_2_and_write_nothing(base_dir, annotated, tmp_path, capsys, breakage, message) -> None:
    folder, _, data = annotated
    data = json.loads(json.dumps(data))
    coco = tmp_path / "bad.json"
    if breakage == "ghost":
        data["images"].append({"id": 77, "file_name": "ghost.png", "width": 640, "height": 480})
    elif breakage == "outside":
        data["annotations"][3]["bbox"] = [-30, 10, 20, 20]
    elif breakage == "category":
        data["categories"].append({"id": 9, "name": "Leukocyte blob"})
    coco.write_text("" if breakage == "empty" else json.dumps(data))
    out = tmp_path / "site"
    code = main(["calibrate", str(folder), "--annotations", str(coco), "--model", str(base_dir), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "bad.json" in err
    assert not out.exists()


def test_label_map_without_annotations_is_refused(base_dir, annotated, tmp_path, capsys) -> None:
    folder, _, _ = annotated
    code = main(["calibrate", str(folder), "--label-map", "x=parasitized", "--model", str(base_dir),
                 "--out", str(tmp_path / "o")])
    assert code == 2 and "--annotations" in capsys.readouterr().err
