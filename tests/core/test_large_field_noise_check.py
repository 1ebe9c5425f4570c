"""Real high-resolution fields are not refused as random noise (issue 24, medium): tiled 7.7 MP and 19.7 MP
fields read as noise because the check judged only a copy shrunk to 512 px, where their cells were a few
pixels wide and a small blur wiped them out. Pixel noise stays noise at every size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification.plausibility import image_warnings, is_noise
from malaria_desktop.core.synthetic import generate_smear


@pytest.mark.parametrize(("tiles", "diameter"), [(5, 30), (8, 30), (8, 40)])  # 7.7 MP and 19.7 MP
def test_tiled_high_resolution_fields_are_not_noise(tiles: int, diameter: int) -> None:
    field = generate_smear(1, 640, 480, cell_diameter=diameter).image
    big = np.tile(field, (tiles, tiles, 1))
    assert not is_noise(image_warnings(big)), big.shape


@pytest.mark.parametrize("shape", [(480, 640), (2400, 3200), (3840, 5120)])
def test_pixel_noise_is_noise_at_every_size(shape: tuple[int, int]) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert is_noise(image_warnings(noise))
    ok, jpeg = cv2.imencode(".jpg", noise[..., ::-1])
    assert ok and is_noise(image_warnings(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[..., ::-1]))
