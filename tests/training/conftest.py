"""Fixtures for training tests: a few generated crops in the NIH layout (never the shared data)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

TRAIN_EXTRA_MISSING = importlib.util.find_spec("tensorflow") is None
SKIP_REASON = "the `train` extra is not installed (TensorFlow missing): pip install -e '.[train]' to run training tests"


class _TrainingModuleWithoutTensorFlow(pytest.File):
    """Stands in for a training test module when TensorFlow is absent: importing the module would fail with
    an ImportError in collection, which reads as a broken suite instead of a missing optional extra."""

    def collect(self):
        yield _SkippedForMissingExtra.from_parent(self, name="requires-train-extra")


class _SkippedForMissingExtra(pytest.Item):
    def runtest(self) -> None:
        pytest.skip(SKIP_REASON)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}: {SKIP_REASON}"


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    """Without the `train` extra each training test module becomes one clearly skipped item."""
    if TRAIN_EXTRA_MISSING:
        return _TrainingModuleWithoutTensorFlow.from_parent(parent, path=module_path)
    return None


def write_nih_layout(root: Path, patients: int = 6, per_class: int = 8, seed: int = 0,
                     prefix: str = "C{p}P{p}thinF") -> Path:
    """Generated NIH-style crops: a pink cell on black; parasitized ones get a dark purple dot."""
    rng = np.random.default_rng(seed)
    for cls in ("Parasitized", "Uninfected"):
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for p in range(1, patients + 1):
            for i in range(per_class):
                h, w = (int(v) for v in rng.integers(40, 70, 2))
                img = np.zeros((h, w, 3), np.uint8)
                color = tuple(int(c) for c in rng.integers(150, 220, 3))
                cv2.ellipse(img, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, color, -1)
                if cls == "Parasitized":
                    cv2.circle(img, (w // 2 + int(rng.integers(-8, 8)), h // 2 + int(rng.integers(-8, 8))), 5,
                               (140, 30, 90), -1)
                name = prefix.format(p=p) + f"_IMG_{i:03d}_cell_{i}.png"
                cv2.imwrite(str(folder / name), img)
    return root


@pytest.fixture
def nih_root(tmp_path: Path) -> Path:
    """NIH layout one level down (``cell_images/``), like the shared data set."""
    return write_nih_layout(tmp_path / "nih" / "cell_images")
