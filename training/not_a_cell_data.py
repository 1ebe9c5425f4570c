"""Training data for the "not a red cell" model, from data we may license, as one .npz of context crops.

Not a red cell (label 1):
- BCCD white-cell and platelet boxes: the engine's own regions centred in them, and the box's stained
  pixels as a region of their own (the engine may cut them either way);
- Chula RBC-12 leftovers: regions the engine outlines that hold no labelled point and lie far from every
  labelled point (Chula labels most cells, not all, so "far" keeps unlabelled red cells out);
- synthetic debris drawn on each field's empty glass: stain precipitate, specks, fibres, text and bars,
  out-of-focus smudges, lobed purple nuclei, tiny platelet-like dots.
Red cells (label 0): NIH crops of both classes (parasitized cells are red cells), the engine's regions
that hold exactly one Chula point, and BCCD regions centred in an RBC box of a typical size.

Splits follow ``trained_model/split.csv`` (NIH by patient, Chula/BCCD by field), so the main classifier's
test patients and fields stay test data here too; fields missing there go to train.

    python -m training.not_a_cell_data --out runs/not_a_cell/data.npz [--nih-per-split 4000]
"""

from __future__ import annotations

import argparse
import csv
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.classification.domain_check import crop_colour_stats
from malaria_desktop.core.classification.not_a_cell import context_crop
from malaria_desktop.core.image_io import load_image
from malaria_desktop.core.segmentation.engine import segment_cells
from malaria_desktop.core.segmentation.options import SegmentationOptions
from training.composite import VARIANTS, compose, prepare_cell

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SIZE = 32
NIH_STD = np.array([25.8, 3.06, 2.11], np.float32)  # median L*a*b* std of an NIH uninfected cell (measured)
SEG = SegmentationOptions(keep_wbc_regions=True)  # what the pipeline runs when this model is present


class Sink:
    """Growing lists of crops and their label, kind, group and split."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = defaultdict(list)
        self.pool: dict[str, list[str]] = {}  # NIH files per split, for the red-cell variants

    def add(self, crop: np.ndarray, label: int, kind: str, group: str, split: str) -> None:
        for k, v in (("x", crop), ("y", label), ("kind", kind), ("group", group), ("split", split)):
            self.rows[k].append(v)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, x=np.stack(self.rows["x"]), y=np.array(self.rows["y"], np.uint8),
                            kind=np.array(self.rows["kind"]), group=np.array(self.rows["group"]),
                            split=np.array(self.rows["split"]))


def read_split(path: Path) -> tuple[dict[str, str], list[tuple[str, int, str, str]]]:
    """(``lab:field`` -> split, NIH rows (file, label, patient, split))."""
    fields, nih = {}, []
    with path.open() as f:
        for r in csv.DictReader(f):
            if r["root"] == "0":
                nih.append((r["file"], int(r["label"]), r["patient"], r["split"]))
            else:
                fields[r["patient"]] = r["split"]
    return fields, nih


def stained(patch: np.ndarray) -> np.ndarray:
    """Bool mask of the stained object in a box: Otsu on optical density, the biggest blob, holes filled."""
    od = -np.log((patch.astype(np.float32) + 1.0) / 256.0).sum(axis=2)
    od8 = cv2.normalize(od, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    _, m = cv2.threshold(od8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    m = (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(m, contours, -1, 1, -1)
    return m.astype(bool)


def _inside(c: tuple[float, float], b) -> bool:
    return b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]


def bccd_field(name: str, split: str, sink: Sink, rng: np.random.Generator) -> None:
    image = load_image(DATA / "bccd" / "images" / f"{name}.jpg")
    root = ET.parse(DATA / "bccd" / "annotations" / f"{name}.xml").getroot()
    boxes: dict[str, list] = defaultdict(list)
    for obj in root.iter("object"):
        b = obj.find("bndbox")
        boxes[obj.findtext("name", "").strip()].append([int(float(b.findtext(k, "0"))) for k in  # type: ignore[union-attr]
                                                        ("xmin", "ymin", "xmax", "ymax")])
    seg = segment_cells(image, SEG)
    d = seg.cell_diameter_px or 90.0
    areas = np.array([c.area_px for c in seg.cells]) if seg.cells else np.zeros(1)
    med = float(np.median(areas))
    group = f"bccd:{name}"
    H, W = image.shape[:2]
    objects = np.zeros((H, W), bool)  # the stained white cells and platelets themselves
    for kind in ("WBC", "Platelets"):
        for x0, y0, x1, y1 in boxes.get(kind, []):
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                objects[y0 : y1 + 1, x0 : x1 + 1] |= stained(image[y0 : y1 + 1, x0 : x1 + 1])
    for c in seg.cells:
        x, y, w, h = c.bbox
        share = objects[y : y + h, x : x + w][c.mask].mean() if c.area_px else 0.0
        kinds = [k for k in ("WBC", "Platelets") if any(_inside(c.centroid, b) for b in boxes.get(k, []))]
        if kinds and share >= 0.3:  # a red cell lying in a white cell's box is still a red cell
            sink.add(context_crop(image, c.bbox, c.mask, d, SIZE), 1, kinds[0].lower(), group, split)
        elif (not c.clump and (0.3 if c.on_edge else 0.6) * med <= c.area_px <= 1.6 * med  # cut cells are cells
              and any(_inside(c.centroid, b) for b in boxes.get("RBC", []))):
            sink.add(context_crop(image, c.bbox, c.mask, d, SIZE), 0, "bccd_rbc", group, split)
    for kind in ("WBC", "Platelets"):
        for x0, y0, x1, y1 in boxes.get(kind, []):
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            m = stained(image[y0 : y1 + 1, x0 : x1 + 1])
            sink.add(context_crop(image, (x0, y0, x1 - x0 + 1, y1 - y0 + 1), m, d, SIZE), 1,
                     kind.lower() + "_box", group, split)
    debris(image, seg, d, group, split, sink, rng, n=4)
    variants(image, seg, d, group, split, sink, rng, n=6)


def chula_field(name: str, split: str, sink: Sink, rng: np.random.Generator) -> None:
    image = load_image(DATA / "chula_rbc12" / "images" / f"{name}.jpg")
    rows = [ln.split() for ln in (DATA / "chula_rbc12" / "labels" / f"{name}.txt").read_text().splitlines() if ln]
    pts = np.array([[float(r[0]), float(r[1])] for r in rows]).reshape(-1, 2)
    seg = segment_cells(image, SEG)
    d = seg.cell_diameter_px or 40.0
    med = float(np.median([c.area_px for c in seg.cells])) if seg.cells else 0.0
    group = f"chula:{name}"
    for c in seg.cells:
        x, y, w, h = c.bbox
        inside = [(px, py) for px, py in pts
                  if x <= px < x + w and y <= py < y + h and c.mask[int(py) - y, int(px) - x]]
        near = np.hypot(*(pts - np.array(c.centroid)).T).min() if len(pts) else 1e9
        if len(inside) == 1 and not c.clump:
            if rng.random() < 0.5:  # plenty of red cells elsewhere; keep the file small
                sink.add(context_crop(image, c.bbox, c.mask, d, SIZE), 0, "chula_rbc", group, split)
        elif not inside and near > 0.75 * d and not c.clump and not c.on_edge and c.area_px < 0.45 * med:
            # Chula labels under half the cells: only small pieces far from every point are sure non-cells
            sink.add(context_crop(image, c.bbox, c.mask, d, SIZE), 1, "leftover", group, split)
    debris(image, seg, d, group, split, sink, rng, n=6)
    variants(image, seg, d, group, split, sink, rng, n=6)


def _draw_debris(kind: str, side: int, d: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(colour layer RGB float, alpha float) of one synthetic non-cell, ``side`` px square."""
    a = np.zeros((side, side), np.float32)
    c = side // 2
    purple = np.array([rng.uniform(60, 140), rng.uniform(20, 80), rng.uniform(90, 170)], np.float32)
    if kind == "precipitate":  # clusters of small dark specks
        for _ in range(int(rng.integers(5, 30))):
            p = (c + rng.normal(0, d / 5, 2)).astype(int)
            cv2.circle(a, (int(p[0]), int(p[1])), int(rng.integers(1, max(2, int(d / 12)))), 1.0, -1)
    elif kind == "fibre":
        pts = np.cumsum(rng.normal(0, d / 6, (6, 2)), axis=0) + c
        cv2.polylines(a, [pts.astype(np.int32).reshape(-1, 1, 2)], False, 1.0, max(1, int(d / 20)))
        purple = np.array([rng.uniform(40, 120)] * 3, np.float32)
    elif kind == "text":
        cv2.putText(a, "".join(rng.choice(list("0123456789umABX"), 3)), (2, c + int(d / 6)),
                    cv2.FONT_HERSHEY_SIMPLEX, d / 40, 1.0, max(1, int(d / 25)))
        purple = np.array(rng.choice([[0, 0, 0], [250, 250, 250], [20, 200, 20], [230, 230, 20]]), np.float32)
    elif kind == "smudge":  # out-of-focus pale blob of odd shape
        for _ in range(3):
            p = (c + rng.normal(0, d / 6, 2)).astype(int)
            cv2.ellipse(a, (int(p[0]), int(p[1])), (int(d * rng.uniform(0.15, 0.4)), int(d * rng.uniform(0.1, 0.3))),
                        float(rng.uniform(0, 180)), 0, 360, 0.5, -1)
        a = cv2.GaussianBlur(a, (0, 0), max(1.0, d / 10))
    elif kind == "nucleus":  # a lobed white-cell nucleus, bigger than a red cell's stain could be
        for _ in range(int(rng.integers(2, 5))):
            p = (c + rng.normal(0, d / 6, 2)).astype(int)
            cv2.circle(a, (int(p[0]), int(p[1])), int(d * rng.uniform(0.15, 0.3)), 1.0, -1)
    else:  # platelet-like dot
        cv2.ellipse(a, (c, c), (int(d * rng.uniform(0.06, 0.18)), int(d * rng.uniform(0.05, 0.15))),
                    float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        a = cv2.GaussianBlur(a, (3, 3), 0.8)
    return np.broadcast_to(purple, (side, side, 3)), a


DEBRIS = ("precipitate", "fibre", "text", "smudge", "nucleus", "platelet")


def debris(image: np.ndarray, seg, d: float, group: str, split: str, sink: Sink, rng: np.random.Generator,
           n: int) -> None:
    """Draw ``n`` synthetic non-cells on empty glass of this field and add their context crops."""
    H, W = image.shape[:2]
    cover = np.zeros((H, W), bool)
    for c in seg.cells:
        x, y, w, h = c.bbox
        cover[y : y + h, x : x + w] |= c.mask
    side = int(1.2 * d)
    for _ in range(n):
        for _ in range(30):
            x0, y0 = int(rng.integers(0, max(1, W - side))), int(rng.integers(0, max(1, H - side)))
            if not cover[y0 : y0 + side, x0 : x0 + side].any():
                break
        kind = DEBRIS[int(rng.integers(len(DEBRIS)))]
        colour, a = _draw_debris(kind, side, d, rng)
        a = a[: H - y0, : W - x0]
        region = image[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]].astype(np.float32)
        k = a[..., None] * rng.uniform(0.5, 1.0)
        field = image.copy()
        field[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]] = (region * (1 - k) + colour[: a.shape[0], : a.shape[1]] * k
                                                              ).astype(np.uint8)
        m = cv2.dilate((a > 0.15).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if m.sum() < 4:
            continue
        sink.add(context_crop(field, (x0, y0, m.shape[1], m.shape[0]), m, d, SIZE), 1, f"debris_{kind}", group, split)


def _cut(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The mask cut by a straight border: 40-90 % of the cell kept, as at the field's edge."""
    ys, xs = np.nonzero(m)
    a = rng.uniform(0, 2 * np.pi)
    proj = xs * np.cos(a) + ys * np.sin(a)
    keep = proj <= np.quantile(proj, rng.uniform(0.4, 0.9))
    out = np.zeros_like(m)
    out[ys[keep], xs[keep]] = True
    return out


def variants(image: np.ndarray, seg, d: float, group: str, split: str, sink: Sink, rng: np.random.Generator,
             n: int) -> None:
    """Red cells the engine must keep: NIH cells of this split in this field's stain and size, as the
    composite fields make them (plain, enlarged and pale, parasite-filled, stippled; some cut by a border)."""
    good = [c for c in seg.cells if not c.clump and not c.on_edge][:40]
    pool = sink.pool.get(split, [])
    if not good or not pool:
        return
    stats = crop_colour_stats(np.stack([crop_cell(image, c.bbox, c.mask, 64) for c in good]))
    stats = stats[np.all(np.isfinite(stats), axis=1)]
    if not len(stats):
        return
    cover = np.zeros(image.shape[:2], bool)
    for c in seg.cells:
        x, y, w, h = c.bbox
        cover[y : y + h, x : x + w] |= c.mask
    glass = np.median(image[~cover], axis=0).astype(np.float32) if (~cover).any() else np.full(3, 230, np.float32)
    target = np.median(stats, axis=0)
    composite_regions(image, seg, d, cover, target, group, split, sink, rng, n)
    for _ in range(n):
        crop = load_image(DATA / "nih_cells" / "cell_images" / pool[int(rng.integers(len(pool)))])
        variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
        patch, m = prepare_cell(crop, d, target, NIH_STD, variant, glass, rng)
        if rng.random() < 0.3:
            m = _cut(m, rng)
        if m.sum() < 4:
            continue
        sink.add(context_crop(patch, (0, 0, m.shape[1], m.shape[0]), m, d, SIZE), 0, f"variant_{variant}", group,
                 split)


def composite_regions(image: np.ndarray, seg, d: float, cover: np.ndarray, target: np.ndarray, group: str,
                      split: str, sink: Sink, rng: np.random.Generator, n: int) -> None:
    """NIH cells pasted into this field (``training.composite``) and cut out by the engine itself: the regions
    the model meets in the app (a neighbour's rim, a cut edge), not ideal masks."""
    pool = sink.pool[split]
    crops = [(f, load_image(DATA / "nih_cells" / "cell_images" / f)) for f in
             (pool[int(i)] for i in rng.integers(len(pool), size=n))]
    centres = np.array([c.centroid for c in seg.cells]).reshape(-1, 2)
    field, pasted = compose(image, cover, d, target, NIH_STD, crops, centres, int(rng.integers(1 << 30)))
    res = segment_cells(field, SEG)
    for p in pasted:
        x, y, w, h = p.bbox
        for c in res.cells:
            cx, cy, cw, ch = c.bbox
            x0, y0, x1, y1 = max(x, cx), max(y, cy), min(x + w, cx + cw), min(y + h, cy + ch)
            if x1 <= x0 or y1 <= y0:
                continue
            both = int((p.mask[y0 - y : y1 - y, x0 - x : x1 - x] & c.mask[y0 - cy : y1 - cy, x0 - cx : x1 - cx]).sum())
            if both >= 0.5 * p.mask.sum() and both >= 0.5 * c.area_px:
                sink.add(context_crop(field, c.bbox, c.mask, res.cell_diameter_px or d, SIZE), 0,
                         f"composite_{p.variant}", group, split)


def nih_cells(rows: list[tuple[str, int, str, str]], per_split: int, sink: Sink, rng: np.random.Generator) -> None:
    """NIH crops seen at their own size (x 0.85-1.2, as segmentation sizes vary): red cells, both classes."""
    root = DATA / "nih_cells" / "cell_images"
    by_split = defaultdict(list)
    for r in rows:
        by_split[r[3]].append(r)
    for split, rs in by_split.items():
        take = rs if split == "test" else [rs[i] for i in rng.permutation(len(rs))[:per_split]]
        for file, label, patient, _ in take:
            crop = load_image(root / file)
            m = crop.max(axis=2) > 0
            eq = 2.0 * np.sqrt(max(int(m.sum()), 1) / np.pi) * rng.uniform(0.85, 1.2)
            sink.add(context_crop(crop, (0, 0, crop.shape[1], crop.shape[0]), None, eq, SIZE), 0,
                     "nih_parasitized" if label else "nih_uninfected", patient, split)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "not_a_cell" / "data.npz")
    ap.add_argument("--split", type=Path, default=ROOT / "trained_model" / "split.csv")
    ap.add_argument("--nih-per-split", type=int, default=4000)
    ap.add_argument("--limit", type=int, default=0, help="fields per lab (smoke runs)")
    args = ap.parse_args(argv)
    fields, nih = read_split(args.split)
    rng = np.random.default_rng(0)
    sink = Sink()
    for file, _label, _patient, split in nih:
        sink.pool.setdefault(split, []).append(file)
    for lab, fn, folder in (("chula", chula_field, "chula_rbc12"), ("bccd", bccd_field, "bccd")):
        names = sorted(p.stem for p in (DATA / folder / "images").glob("*.jpg"))[: args.limit or None]
        for name in names:
            fn(name, fields.get(f"{lab}:{name}", "train"), sink, rng)
        print(lab, len(names), "fields; crops so far", len(sink.rows["y"]), flush=True)
    nih_cells(nih, args.nih_per_split, sink, rng)
    sink.save(args.out)
    kinds = np.array(sink.rows["kind"])
    splits = np.array(sink.rows["split"])
    for k in sorted(set(kinds.tolist())):
        print(k, {s: int(((kinds == k) & (splits == s)).sum()) for s in ("train", "val", "test")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
