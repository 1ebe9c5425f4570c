"""NIH cells shown as another lab would show them: that lab's native cell size AND its stain colours.

Why: no lab here but NIH has parasitized cells with labels, so the only proxy for "parasites in a lab
never seen" is NIH's parasitized cells re-rendered. Colour alone is not enough: other labs image red cells
at 40-110 px where NIH's are ~130 px, so a ring that spans 6 NIH pixels spans 2-3 of theirs. Each cell is
resized so its longest side is a native side drawn from the lab's own cells (the crops that
``training.foreign_cells`` cut, saved at native size), masked back onto pure black (the crop convention),
cropped by the app's ``crop_cell``, then Reinhard-transferred into a colour drawn from the lab's cells
(``training.stain``, contrast scaled lab-to-lab so the parasite's chromatin stays as dark relative to its
cell). Used by the export's operating point (``training.operating_point.transfer_threshold``) and by
``benchmarks/transfer.py``; seeded, so the same cells are rendered the same way for every model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.classification.crops import crop_cell
from training.data import decode_crops
from training.stain import cell_colour_stats, sample_targets, transfer_colour


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def at_native_side(image: np.ndarray, side: int, size: int) -> np.ndarray:
    """A pure-black-background crop shown as a cell of ``side`` px would be, then the classifier's crop."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale < 1:
        nh, nw = max(2, round(h * scale)), max(2, round(w * scale))
        mask = cv2.resize((image.max(axis=2) > 0).astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        image[mask == 0] = 0
        image[(mask > 0) & (image.max(axis=2) == 0)] = 1  # a cell pixel must not read as background
    return crop_cell(image, (0, 0, image.shape[1], image.shape[0]), None, size)


def lab_cells(folder: Path) -> list[Path]:
    """A lab's healthy cells as cut by ``training.foreign_cells`` (``FOLDER/Uninfected/*.png``)."""
    return sorted((Path(folder) / "Uninfected").glob("*.png"))


def render_like_lab(paths: list[Path], lab_folder: Path, size: int, ref_std: np.ndarray, seed: int = 7
                    ) -> np.ndarray:
    """``paths`` (NIH-layout crops) at ``lab_folder``'s native cell sizes and colours, as classifier inputs.

    ref_std: typical L*a*b* std of an uninfected cell of the source lab (``source_reference_std``).
    """
    cells = lab_cells(lab_folder)
    if not cells:
        raise ValueError(f"{lab_folder} has no Uninfected/*.png cells")
    sides = np.array([max(read_rgb(p).shape[:2]) for p in cells[::3]])
    rng = np.random.default_rng(seed)
    drawn = rng.choice(sides, len(paths))
    crops = np.stack([at_native_side(read_rgb(p), int(s), size) for p, s in zip(paths, drawn, strict=True)])
    targets = sample_targets(cell_colour_stats(decode_crops(cells, size)), len(paths), seed=seed + 1)
    return transfer_colour(crops, targets, ref_std)


def source_reference_std(healthy_paths: list[Path], size: int) -> np.ndarray:
    """Median L*a*b* std of the source lab's uninfected cells (the contrast the transfer scales from)."""
    return np.nanmedian(cell_colour_stats(decode_crops(healthy_paths, size))[:, 3:], axis=0)
