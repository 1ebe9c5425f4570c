"""Patient ids, NIH-layout discovery, crop cache, and the patient-level split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.image_io import load_image
from tests.training.conftest import write_nih_layout
from training.data import Sample, cached_crops, find_samples, patient_id, read_patient_map
from training.split import read_split, split_patients, write_split


@pytest.mark.parametrize("name, expected", [
    ("C100P61ThinF_IMG_20150918_144104_cell_162.png", "C100"),
    ("C1_thinF_IMG_20150604_104722_cell_9.png", "C1"),
    ("C39P4thinF_original_IMG_20150622_105102_cell_80.png", "C39"),
    ("reviewed_cell_0001.png", None),
    ("c12_lowercase.png", None),
])
def test_patient_id_from_file_name(name: str, expected: str | None) -> None:
    assert patient_id(name) == expected


def test_mapping_csv_overrides_file_name(tmp_path: Path) -> None:
    csv = tmp_path / "map.csv"
    csv.write_text("file,patient\nreviewed_cell_0001.png,SLIDE-7\nC5P1thinF_x.png,P99\n")
    mapping = read_patient_map(csv)
    assert patient_id("reviewed_cell_0001.png", mapping) == "SLIDE-7"
    assert patient_id("C5P1thinF_x.png", mapping) == "P99"
    assert patient_id("C6P2thinF_y.png", mapping) == "C6"


def test_find_samples_any_depth_extra_folders_unknown_groups(nih_root: Path, tmp_path: Path) -> None:
    extra = write_nih_layout(tmp_path / "export" / "session1" / "cells", patients=1, per_class=2, prefix="cell{p}")
    samples = find_samples([nih_root.parent, tmp_path / "export"])
    assert len(samples) == 6 * 8 * 2 + 4
    nih = [s for s in samples if s.root == 0]
    assert {s.patient for s in nih} == {f"C{p}" for p in range(1, 7)}
    assert all(s.label == (1 if s.rel.split("/")[-2] == "Parasitized" else 0) for s in samples)
    unknown = [s for s in samples if s.root == 1]
    assert len({s.patient for s in unknown}) == 4  # each unknown file is its own group by default
    grouped = find_samples([extra], unknown="folder")
    assert len({s.patient for s in grouped}) == 1


def test_find_samples_rejects_folder_without_classes(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="Parasitized"):
        find_samples([tmp_path / "empty"])


def test_cache_uses_the_app_crop_function_and_is_reused(nih_root: Path, tmp_path: Path) -> None:
    samples = find_samples([nih_root])[:70]
    crops = cached_crops(samples, [nih_root], 24, tmp_path / "cache", workers=2)
    assert crops.shape == (70, 24, 24, 3) and crops.dtype == np.uint8
    img = load_image(nih_root / samples[3].rel)
    np.testing.assert_array_equal(crops[3], crop_cell(img, (0, 0, img.shape[1], img.shape[0]), None, 24))
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1
    again = cached_crops(samples, [nih_root], 24, tmp_path / "cache")
    np.testing.assert_array_equal(crops, again)


def _population(patients: int = 60, seed: int = 1) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for p in range(patients):
        n = int(rng.integers(20, 200))
        share = rng.choice([0.0, 0.2, 0.5, 0.8])
        labels = rng.random(n) < share
        samples += [Sample(0, f"C{p}_{i}.png", int(label), f"C{p}") for i, label in enumerate(labels)]
    return samples


def test_split_is_patient_level_stratified_and_reproducible(tmp_path: Path) -> None:
    samples = _population()
    a = split_patients(samples, (0.7, 0.15, 0.15), seed=3)
    assert a == split_patients(samples, (0.7, 0.15, 0.15), seed=3)
    assert a != split_patients(samples, (0.7, 0.15, 0.15), seed=4)
    per_split: dict[str, set[str]] = {}
    for s in samples:
        per_split.setdefault(a[s.patient], set()).add(s.patient)
    assert set(per_split) == {"train", "val", "test"}
    assert not (per_split["train"] & per_split["val"] or per_split["train"] & per_split["test"]
                or per_split["val"] & per_split["test"])
    cells = Counter(a[s.patient] for s in samples)
    positives = Counter(a[s.patient] for s in samples if s.label)
    total, total_pos = len(samples), sum(positives.values())
    for name, frac in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        assert abs(cells[name] / total - frac) < 0.07
        assert abs(positives[name] / cells[name] - total_pos / total) < 0.1  # stratified by class share
    sha = write_split(tmp_path / "split.csv", samples, a)
    assert sha == write_split(tmp_path / "again.csv", samples, a)
    back, names = read_split(tmp_path / "split.csv")
    assert back == samples and names == [a[s.patient] for s in samples]


def test_split_gives_every_split_a_patient_on_tiny_sets() -> None:
    samples = [Sample(0, f"C{p}_{i}.png", i % 2, f"C{p}") for p in range(4) for i in range(10)]
    assert set(split_patients(samples, seed=0).values()) == {"train", "val", "test"}


def test_keep_split_holds_old_patients_in_place(nih_root: Path, tmp_path: Path) -> None:
    from training.model import ModelConfig
    from training.train import TrainConfig, load_run_data

    first = TrainConfig(data=[str(nih_root)], out=str(tmp_path / "a"), model=ModelConfig(input_size=16), workers=1)
    samples, names, _, _, _ = load_run_data(first, tmp_path / "a")
    old = {s.patient: n for s, n in zip(samples, names, strict=False)}
    extra = write_nih_layout(tmp_path / "new", patients=3, per_class=4, prefix="C{p}00X")
    second = TrainConfig(data=[str(nih_root), str(extra)], out=str(tmp_path / "b"), model=ModelConfig(input_size=16),
                         seed=7, workers=1, keep_split=str(tmp_path / "a" / "split.csv"))
    samples2, names2, crops2, labels2, _ = load_run_data(second, tmp_path / "b")
    assert len(samples2) == len(samples) + 24 and crops2.shape[0] == labels2.shape[0] == len(samples2)
    for s, n in zip(samples2, names2, strict=False):
        if s.patient in old:
            assert old[s.patient] == n
    assert {s.patient for s in samples2} - set(old) == {"C100", "C200", "C300"}
