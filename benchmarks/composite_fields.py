"""Composite infected fields: is every infected cell outlined, and are the parasitized calls red cells?

NIH *test-patient* parasitized cells (``trained_model/split.csv``) are pasted into Chula RBC-12 and BCCD
*test* fields (fields whose cells the classifier never trained on), re-coloured and scaled to each field
(``training/composite.py``: plain, enlarged+pale, parasite-filled, stippled; touching a neighbour, cut by
the field edge, alone). The whole ``analyze`` engine (segment, not-a-cell, classify) runs on each field.

Figures per lab:
- infected outlined: a region (any verdict, clumps too) holds >= 50 % of the pasted cell and the cell is
  >= 50 % of that region; "counted" also needs the region counted (no clump, not not-a-cell);
  "parasitized" also needs the parasitized verdict. By variant and place as well.
- red-cell F1 (Chula): truth = Chula's centre points (not under a pasted cell) + pasted centres; recall =
  points inside exactly one counted region; precision = counted regions holding a truth point (Chula
  labels most, not all, cells: precision is a lower bound).
- parasitized calls matching no red cell: Chula: regions holding no truth point; BCCD: regions whose
  centre lies in a white-cell or platelet box.
- slide count: parasitized counted / pasted, and parasitemia vs truth (Chula: truth cells = points).
- healthy: the same fields before pasting: share of counted cells called parasitized; and BCCD
  white-cell / platelet boxes whose region is called not-a-cell.

    .venv/bin/python -m benchmarks.composite_fields [--per-field 8] [--repeats 2] [--limit N] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import ROOT
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from malaria_desktop.core.classification.crops import crop_cell  # noqa: E402
from malaria_desktop.core.classification.domain_check import crop_colour_stats  # noqa: E402
from malaria_desktop.core.image_io import load_image  # noqa: E402
from malaria_desktop.core.pipeline import analyze_image  # noqa: E402
from malaria_desktop.core.results import PARASITIZED, ImageResult  # noqa: E402
from malaria_desktop.core.segmentation.options import SegmentationOptions  # noqa: E402
from training.composite import PLACES, VARIANTS, compose  # noqa: E402
from training.not_a_cell_data import stained  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "benchmarks" / "composite_fields.md"
NOT_CELL = "not_cell"


def test_material(split: Path) -> tuple[list[str], dict[str, list[str]]]:
    """NIH test parasitized files, and the test fields of each other lab (``lab:field`` patients)."""
    nih, fields = [], defaultdict(set)
    with split.open() as f:
        for row in csv.DictReader(f):
            if row["split"] != "test":
                continue
            if row["root"] == "0" and row["label"] == "1":
                nih.append(row["file"])
            elif ":" in row["patient"]:
                lab, field = row["patient"].split(":", 1)
                fields[lab].add(field)
    return sorted(nih), {k: sorted(v) for k, v in fields.items()}


def bccd_boxes(name: str) -> dict[str, np.ndarray]:
    root = ET.parse(DATA / "bccd" / "annotations" / f"{name}.xml").getroot()
    out: dict[str, list] = defaultdict(list)
    for obj in root.iter("object"):
        b = obj.find("bndbox")
        out[obj.findtext("name", "").strip()].append([int(float(b.findtext(k, "0"))) for k in
                                                      ("xmin", "ymin", "xmax", "ymax")])  # type: ignore[union-attr]
    return {k: np.array(v, np.int64).reshape(-1, 4) for k, v in out.items()}


def region_maps(result: ImageResult) -> tuple[np.ndarray, list]:
    """Per-pixel region index (-1 none; later regions win) and the region list."""
    h, w = result.image_shape
    idx = np.full((h, w), -1, np.int32)
    for k, cr in enumerate(result.cells):
        x, y, bw, bh = cr.cell.bbox
        idx[y : y + bh, x : x + bw][cr.cell.mask] = k
    return idx, list(result.cells)


def counted(cr) -> bool:
    return not cr.cell.clump and cr.label != NOT_CELL


def field_material(image: np.ndarray, classifier: Classifier, lab: str, name: str, seg: SegmentationOptions):
    """Engine result on the original field, its cover map, cell centres and colour target."""
    res = analyze_image(image, classifier, segmentation=seg)
    h, w = image.shape[:2]
    cover = np.zeros((h, w), bool)
    for cr in res.cells:
        x, y, bw, bh = cr.cell.bbox
        cover[y : y + bh, x : x + bw] |= cr.cell.mask
    d = res.cell_diameter_px or 40.0
    extra = {}
    if lab == "chula":
        rows = [ln.split() for ln in (DATA / "chula_rbc12" / "labels" / f"{name}.txt").read_text().splitlines() if ln]
        pts = np.array([[float(r[0]), float(r[1])] for r in rows]).reshape(-1, 2)
        for x, y in pts:
            cv2.circle(cover.view(np.uint8), (int(x), int(y)), int(0.45 * d), 1, -1)
        extra["points"] = pts
        centres = pts
    else:
        boxes = bccd_boxes(name)
        for b in np.concatenate([v for v in boxes.values()] or [np.zeros((0, 4), np.int64)]):
            cv2.rectangle(cover.view(np.uint8), (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), 1, -1)
        extra["boxes"] = boxes
        extra["image"] = image
        centres = np.array([cr.cell.centroid for cr in res.cells]).reshape(-1, 2)
    good = [cr for cr in res.cells if counted(cr) and not cr.cell.on_edge]
    crops = np.stack([crop_cell(image, cr.cell.bbox, cr.cell.mask, 64) for cr in good]) if good else None
    stats = crop_colour_stats(crops) if crops is not None else np.full((1, 6), np.nan)
    stats = stats[np.all(np.isfinite(stats), axis=1)]
    target = np.median(stats, axis=0) if len(stats) else None
    return res, cover, centres, d, target, extra


def score_field(res: ImageResult, pasted, lab: str, extra: dict, t: dict) -> None:
    """Add this composite's figures to the running totals ``t``."""
    idx, regions = region_maps(res)
    h, w = res.image_shape
    for p in pasted:
        x, y, bw, bh = p.bbox
        under = idx[y : y + bh, x : x + bw][p.mask]
        ks, n = np.unique(under[under >= 0], return_counts=True)
        hit = None
        for k, c in zip(ks.tolist(), n.tolist(), strict=True):
            if c >= 0.5 * p.mask.sum() and c >= 0.5 * regions[k].cell.area_px:
                hit = regions[k]
        for key in ("all", f"v:{p.variant}", f"p:{p.place}"):
            t[f"{key}:n"] += 1
            t[f"{key}:outlined"] += hit is not None
            t[f"{key}:counted"] += hit is not None and counted(hit)
            t[f"{key}:parasitized"] += hit is not None and counted(hit) and hit.label == PARASITIZED
    pmask = np.zeros((h, w), bool)
    for p in pasted:
        x, y, bw, bh = p.bbox
        pmask[y : y + bh, x : x + bw] |= p.mask
    par = [cr for cr in regions if counted(cr) and cr.label == PARASITIZED]
    t["pasted"] += len(pasted)
    t["called"] += len(par)
    t["counted"] += sum(counted(cr) for cr in regions)
    if lab == "chula":
        pts = extra["points"]
        xi, yi = np.clip(pts[:, 0].astype(int), 0, w - 1), np.clip(pts[:, 1].astype(int), 0, h - 1)
        truth = np.concatenate([pts[~pmask[yi, xi]], np.array([p.centre for p in pasted]).reshape(-1, 2)])
        cnt = np.zeros((h, w), np.uint8)
        ids = np.full((h, w), -1, np.int32)
        for k, cr in enumerate(regions):
            if counted(cr):
                x, y, bw, bh = cr.cell.bbox
                cnt[y : y + bh, x : x + bw] += cr.cell.mask
                ids[y : y + bh, x : x + bw][cr.cell.mask] = k
        tx, ty = np.clip(truth[:, 0].astype(int), 0, w - 1), np.clip(truth[:, 1].astype(int), 0, h - 1)
        t["truth"] += len(truth)
        t["truth_found"] += int((cnt[ty, tx] == 1).sum())
        held = set(ids[ty, tx][ids[ty, tx] >= 0].tolist())
        t["regions_true"] += len(held)
        t["par_no_cell"] += sum(1 for k, cr in enumerate(regions) if cr in par and k not in held)
    else:
        bad = np.concatenate([extra["boxes"].get(k, np.zeros((0, 4), np.int64)) for k in ("WBC", "Platelets")])
        t["par_no_cell"] += sum(1 for cr in par if _in_boxes(cr.cell.centroid, bad))


def _in_boxes(c: tuple[float, float], boxes: np.ndarray) -> bool:
    x, y = c
    return bool(((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])).any())


def _object_share(cr, box: np.ndarray, image: np.ndarray) -> float:
    """Share of a region's pixels on the stained object of a white-cell/platelet box (not a red cell beside it)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    obj = np.zeros((h, w), bool)
    obj[y0 : y1 + 1, x0 : x1 + 1] = stained(image[y0 : y1 + 1, x0 : x1 + 1])
    x, y, bw, bh = cr.cell.bbox
    return float(obj[y : y + bh, x : x + bw][cr.cell.mask].mean()) if cr.cell.area_px else 0.0


def healthy_figures(res: ImageResult, lab: str, extra: dict, t: dict) -> None:
    t["h_counted"] += sum(counted(cr) for cr in res.cells)
    t["h_par"] += sum(counted(cr) and cr.label == PARASITIZED for cr in res.cells)
    if lab == "bccd":
        for kind in ("WBC", "Platelets"):
            for b in extra["boxes"].get(kind, np.zeros((0, 4), np.int64)):
                inside = [cr for cr in res.cells if _in_boxes(cr.cell.centroid, b[None]) and
                          _object_share(cr, b, extra["image"]) >= 0.3]
                t[f"{kind}:n"] += 1
                t[f"{kind}:outlined"] += bool(inside)
                t[f"{kind}:not_cell"] += bool(inside) and all(cr.label == NOT_CELL for cr in inside)
                t[f"{kind}:par"] += any(counted(cr) and cr.label == PARASITIZED for cr in inside)


def run_lab(lab: str, names: list[str], nih: list[str], classifier: Classifier, per_field: int, repeats: int,
            source_std: np.ndarray, seg: SegmentationOptions) -> tuple[dict, list[float]]:
    t: dict = defaultdict(int)
    ms: list[float] = []
    nih_root = DATA / "nih_cells" / "cell_images"
    for fi, name in enumerate(names):
        path = DATA / ("chula_rbc12" if lab == "chula" else "bccd") / "images" / f"{name}.jpg"
        field = load_image(path)
        res0, cover, centres, d, target, extra = field_material(field, classifier, lab, name, seg)
        healthy_figures(res0, lab, extra, t)
        if target is None:
            continue
        for r in range(repeats):
            rng = np.random.default_rng([fi, r, 17])
            picks = rng.choice(len(nih), per_field, replace=False)
            crops = [(nih[i], load_image(nih_root / nih[i])) for i in picks]
            image, pasted = compose(field, cover, d, target, source_std, crops, centres, seed=fi * 100 + r)
            t0 = time.perf_counter()
            res = analyze_image(image, classifier, segmentation=seg)
            ms.append((time.perf_counter() - t0) * 1e3)
            score_field(res, pasted, lab, extra, t)
        t["fields"] += 1
    return t, ms


def nih_source_std(split: Path, n: int = 300) -> np.ndarray:
    """Median L*a*b* std of NIH test uninfected cells: the contrast the transfer scales from."""
    with split.open() as f:
        files = [r["file"] for r in csv.DictReader(f)
                 if r["root"] == "0" and r["label"] == "0" and r["split"] == "test"]
    root = DATA / "nih_cells" / "cell_images"
    images = [load_image(root / p) for p in files[:: max(1, len(files) // n)][:n]]
    crops = np.stack([crop_cell(im, (0, 0, im.shape[1], im.shape[0]), None, 64) for im in images])
    stats = crop_colour_stats(crops)
    return np.median(stats[np.all(np.isfinite(stats), axis=1)][:, 3:], axis=0)


def table(results: dict[str, tuple[dict, list[float]]]) -> list[str]:
    f = lambda a, b: f"{a / b:.3f}" if b else "-"  # noqa: E731
    lines = ["| lab | fields | pasted | outlined | counted | called parasitized | red-cell F1 (P, R) | "
             "parasitized calls on no red cell | parasitized / pasted | parasitemia app vs truth | "
             "healthy fields: parasitized | ms/field (median) |", "|" + "---|" * 12]
    for lab, (t, ms) in results.items():
        f1 = "-"
        if t["truth"]:
            p, r = t["regions_true"] / max(t["counted"], 1), t["truth_found"] / t["truth"]
            f1 = f"{2 * p * r / max(p + r, 1e-9):.3f} ({p:.3f}, {r:.3f})"
        pt = (f"{100 * t['called'] / max(t['counted'], 1):.2f} % vs {100 * t['pasted'] / t['truth']:.2f} %"
              if t["truth"] else "-")
        lines.append(f"| {lab} | {t['fields']} | {t['all:n']} | {f(t['all:outlined'], t['all:n'])} | "
                     f"{f(t['all:counted'], t['all:n'])} | {f(t['all:parasitized'], t['all:n'])} | {f1} | "
                     f"{t['par_no_cell']} of {t['called']} ({f(t['par_no_cell'], t['called'])}) | "
                     f"{f(t['called'], t['pasted'])} | {pt} | {t['h_par']} of {t['h_counted']} "
                     f"({f(t['h_par'], t['h_counted'])}) | {np.median(ms) if ms else 0:.0f} |")
    lines += ["", "Outlined recall by variant and place (outlined / counted / called parasitized):", "",
              "| lab | " + " | ".join(VARIANTS + PLACES) + " |", "|" + "---|" * (1 + len(VARIANTS + PLACES))]
    for lab, (t, _) in results.items():
        cells = [f"{f(t[f'{k}:outlined'], t[f'{k}:n'])} / {f(t[f'{k}:counted'], t[f'{k}:n'])} / "
                 f"{f(t[f'{k}:parasitized'], t[f'{k}:n'])} (n {t[f'{k}:n']})"
                 for k in [f"v:{v}" for v in VARIANTS] + [f"p:{p}" for p in PLACES]]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    if "bccd" in results:
        t = results["bccd"][0]
        lines += ["", "BCCD white cells and platelets on the unpasted test fields (a region centred in the box, "
                  ">= 30 % on its stained object):", ""]
        for kind in ("WBC", "Platelets"):
            lines.append(f"- {kind}: {t[f'{kind}:n']} boxes; a region there {f(t[f'{kind}:outlined'], t[f'{kind}:n'])}"
                         f"; all its regions not-a-cell {f(t[f'{kind}:not_cell'], t[f'{kind}:n'])}; called parasitized "
                         f"{t[f'{kind}:par']} (no region on it: the segmenter already left it out)")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-field", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="composites per field (different cells and spots)")
    ap.add_argument("--limit", type=int, default=0, help="fields per lab (0 = all test fields)")
    ap.add_argument("--labs", default="chula,bccd")
    ap.add_argument("--model", default=str(ROOT / "trained_model"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--seg", default="", help="segmentation options to try, e.g. wbc_nucleus_frac=0.6,drop_wbc=0")
    args = ap.parse_args(argv)
    split = ROOT / "trained_model" / "split.csv"
    nih, fields = test_material(split)
    classifier = Classifier.load(args.model)
    source_std = nih_source_std(split)
    seg = SegmentationOptions(**{k: type(getattr(SegmentationOptions(), k))(float(v)) for k, v in
                                 (kv.split("=") for kv in args.seg.split(",") if kv)})
    results = {}
    for lab in args.labs.split(","):
        names = fields.get(lab, [])[: args.limit or None]
        results[lab] = run_lab(lab, names, nih, classifier, args.per_field, args.repeats, source_std, seg)
    lines = table(results)
    print("\n".join(lines))
    if not args.no_write:
        cmd = "benchmarks/composite_fields.py " + " ".join(argv if argv is not None else sys.argv[1:])
        head = ["# Composite infected fields", "", f"Written by `{cmd.strip()}` (model: {Path(args.model).name}, "
                f"card threshold {classifier.threshold:.3f}). See the script's docstring for each figure.", ""]
        OUT.write_text("\n".join(head + lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
