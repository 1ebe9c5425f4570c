"""Find NIH-layout cell crops, attach patient ids, and decode them once into a uint8 crop cache.

Why patient ids matter: cells of one patient look alike (same smear, stain, camera), so a split by
cell leaks and overstates accuracy; the split module groups by the ids assigned here. Why a cache:
decoding ~16k PNGs each epoch would starve the 2-core CPU; crops are decoded once through the app's
own ``read_crop`` (what ``classify`` runs, so training sees exactly what the app feeds the model) and kept
in RAM as uint8.
"""

from __future__ import annotations

import csv
import hashlib
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from malaria_desktop.core.classification.crop_io import read_crop

CLASS_DIRS = {"parasitized": 1, "uninfected": 0}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
PATIENT_RE = re.compile(r"^(C\d+)")


@dataclass(frozen=True)
class Sample:
    """One labelled crop: ``root`` index into the data roots, path relative to that root."""

    root: int
    rel: str
    label: int  # 1 = parasitized, 0 = uninfected
    patient: str


def patient_id(file_name: str, mapping: dict[str, str] | None = None) -> str | None:
    """Patient id of a crop: the mapping CSV wins, else the leading ``C<digits>``; None if unknown.

    ``C100P61ThinF_IMG_..`` -> ``C100``; ``C1_thinF..`` -> ``C1``; ``C39P4thinF_original..`` -> ``C39``.
    """
    name = Path(file_name).name
    if mapping:
        for key in (name, Path(name).stem):
            if key in mapping:
                return mapping[key]
    match = PATIENT_RE.match(name)
    return match.group(1) if match else None


def read_patient_map(path: Path | None) -> dict[str, str]:
    """Read a CSV with columns ``file`` (name or stem) and ``patient``."""
    if path is None:
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"file", "patient"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: patient map needs the columns 'file' and 'patient'")
        return {Path(row["file"]).name: row["patient"].strip() for row in reader if row["patient"].strip()}


def find_samples(roots: list[Path], mapping: dict[str, str] | None = None, unknown: str = "file") -> list[Sample]:
    """All crops under ``Parasitized/`` and ``Uninfected/`` folders (any depth) of every root.

    unknown: how files without a patient id are grouped: ``"file"`` (each file is its own group) or
    ``"folder"`` (one group per class-folder parent, the cautious choice for exported review sets).
    """
    samples: list[Sample] = []
    for index, root in enumerate(roots):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"data folder {root} does not exist")
        found = 0
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            label = CLASS_DIRS.get(path.parent.name.lower())
            if label is None:
                continue
            rel = path.relative_to(root).as_posix()
            pid = patient_id(path.name, mapping)
            if pid is None:
                if unknown == "folder":
                    pid = f"?{index}:{path.parent.parent.relative_to(root).as_posix()}"
                else:
                    pid = f"?{index}:{rel}"
            samples.append(Sample(index, rel, label, pid))
            found += 1
        if found == 0:
            raise ValueError(f"{root} has no images in Parasitized/ or Uninfected/ folders")
    return samples


def decode_crops(paths: list[Path], size: int, workers: int = 2) -> np.ndarray:
    """Decode files into an ``(N, size, size, 3)`` uint8 RGB array via the app's ``read_crop``."""
    paths = [Path(p) for p in paths]
    if workers <= 1 or len(paths) < 64:
        crops = [read_crop(p, size) for p in paths]
    else:
        with ProcessPoolExecutor(workers) as pool:
            crops = list(pool.map(read_crop, paths, [size] * len(paths), chunksize=256))
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def cached_crops(samples: list[Sample], roots: list[Path], size: int, cache_dir: Path, workers: int = 2) -> np.ndarray:
    """Crops for ``samples`` from ``cache_dir`` if an identical list was decoded before, else decode and store."""
    listing = "\n".join(f"{s.root}/{s.rel}" for s in samples)
    key = hashlib.sha256(f"{size}\n".encode() + listing.encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"crops_{size}px_{key}.npy"
    if cache.is_file():
        return np.load(cache)
    crops = decode_crops([Path(roots[s.root]) / s.rel for s in samples], size, workers)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, crops)
    tmp.replace(cache)
    return crops
