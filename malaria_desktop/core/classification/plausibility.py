"""Is this input a stained thin-smear field at all, and is the slide's figure clinically possible?

Why: the classifier answers whatever it is given. A greyscale picture, random noise or an empty frame
came out as confident counts (noise read "hyperparasitaemia 94.7 %, target reached"). These checks are
cheap (one downsampled copy of the image) and say so instead:

- ``random_noise``: an image without spatial structure. A field's variance sits in objects several pixels
  wide (cells are 30-150 px), so most of it survives a small blur; in pixel noise almost none does. Such an
  image is not analysed (no cells are counted from it). The blur is judged on the downsampled copy *and*
  on the busiest of a few tiles at the file's own resolution: on a large field (the audit's tiled 7.7 and
  19.7 MP fields, issue 24) the copy shrinks cells to a few pixels, the blur wipes them out and a real
  field read as noise; at full resolution its cells are wide and its structure obvious, while pixel noise
  has none at any scale.
- ``greyscale``: no colour anywhere (the most coloured 5 % of pixels have a chroma below ``GREY_CHROMA``
  L*a*b* units). Giemsa makes red cells pink and parasites purple; the classifier learned colour, so a
  grey picture is analysed but flagged.
- ``implausible_parasitemia`` (slide): thin-film parasitemia above ``IMPLAUSIBLE_PARASITEMIA_PCT``.
  WHO calls > 10 % (low-transmission areas 5 %; 2-5 % also in use) hyperparasitaemia, a criterion of severe
  malaria; counts above 20-30 % are exceptional even among severe, hospitalised P. falciparum cases, and
  P. vivax (which invades reticulocytes, 1-2 % of red cells) practically never exceeds 2-3 %. So a count
  above 25 % is far more often a stain, focus or segmentation artefact, or a lab unlike the training data,
  than a true figure: a human must confirm it before it is reported. It is a flag, never a cap: the count
  is still shown, and the hyperparasitaemia flag still fires.

Warnings are ``"<kind>: <words>"``; ``warning_kind`` gives the kind for the per-kind counts of reports.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import cv2
import numpy as np

IMPLAUSIBLE_PARASITEMIA_PCT = 25.0
IMPLAUSIBLE_FLAG = "implausible_parasitemia"
NOISE = "random_noise"
GREY = "greyscale"
WORK_SIDE = 512  # the checks run on a copy at most this many pixels on its long side
GREY_CHROMA = 3.0  # L*a*b* units (OpenCV 8-bit scale): grey images (also as JPEG) read < 1, real fields > 5
NOISE_STRUCTURE = 0.3  # share of variance that survives a sigma-2 blur; fields keep > 0.8, pixel noise < 0.1
NOISE_MIN_STD = 2.0  # a flat image (all one grey) has no variance to judge: that is "no cells", not noise
NATIVE_TILE = 256  # side of the full-resolution tiles judged when the work copy is downsampled
NATIVE_GRID = 3  # tiles across and down; the busiest (largest spread) one is judged


def _work_copy(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(int(w * scale), 1), max(int(h * scale), 1)), interpolation=cv2.INTER_AREA)


def structure_share(grey: np.ndarray) -> float:
    """Share of the image's variance that survives a sigma-2 Gaussian blur (1.0 for a flat image)."""
    g = grey.astype(np.float32)
    total = float(g.var())
    if total <= 0:
        return 1.0
    return float(cv2.GaussianBlur(g, (0, 0), 2.0).var()) / total


def native_structure_share(image: np.ndarray) -> float:
    """``structure_share`` of the busiest full-resolution tile (1.0 when the image is small enough to be
    judged whole at its own resolution)."""
    h, w = image.shape[:2]
    if max(h, w) <= WORK_SIDE:
        return 1.0
    side = min(NATIVE_TILE, h, w)
    tiles = []
    for fy in np.linspace(0, h - side, NATIVE_GRID).astype(int):
        for fx in np.linspace(0, w - side, NATIVE_GRID).astype(int):
            tile = np.ascontiguousarray(image[fy:fy + side, fx:fx + side, :3])
            tiles.append(cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY))
    return structure_share(max(tiles, key=lambda t: float(t.std())))


def colour_chroma(rgb: np.ndarray) -> float:
    """95th percentile of the pixels' chroma (distance from grey in the a*b* plane)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    return float(np.percentile(chroma, 95))


def image_warnings(image: np.ndarray) -> tuple[str, ...]:
    """``random_noise`` and/or ``greyscale`` warnings for one RGB uint8 field (empty when it looks real)."""
    work = _work_copy(image)
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    out = []
    if (float(grey.std()) >= NOISE_MIN_STD and structure_share(grey) < NOISE_STRUCTURE
            and native_structure_share(image) < NOISE_STRUCTURE):
        out.append(f"{NOISE}: the image looks like random noise, not a blood smear; it was not analysed")
    if colour_chroma(work) < GREY_CHROMA:
        out.append(f"{GREY}: the image has no colour; the classifier needs stained colour images")
    return tuple(out)


def is_noise(warnings: Iterable[str]) -> bool:
    return any(warning_kind(w) == NOISE for w in warnings)


def warning_kind(text: str) -> str:
    """The kind of a warning: the code before ``:``, else its words without numbers (``very_few_cells_found``)."""
    head = text.split(":", 1)[0] if ":" in text else text
    words = re.sub(r"\([^)]*\)|\d+", " ", head).lower()
    return "_".join(re.findall(r"[a-z]+", words)) or "warning"


def count_kinds(warnings: Iterable[str]) -> dict[str, int]:
    """How many times each warning kind occurs, sorted by kind (for one column of slide.csv)."""
    return dict(sorted(Counter(warning_kind(w) for w in warnings).items()))
