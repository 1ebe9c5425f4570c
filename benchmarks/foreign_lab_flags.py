"""Do the safety nets fire on other labs' healthy fields, and stay quiet on fields like the training data?

Runs the app's pipeline (``analyze_images``, the model given by ``--model``) on the healthy fields of Chula
RBC-12 and BCCD, and groups the NIH/NLM uninfected crops by their source field (NIH fields themselves are
not available; their crops are cut by NIH's segmentation, the statistic is the same). Then, leave one lab
out: a reference (``training.reference_stats.compute_reference``) is computed from half of the fields of
the labs it includes (NIH: half of the patients; other labs: even-numbered fields, with the app's crops)
and judged (``core.classification.domain_check.judge``) on the OTHER half of every lab, so a lab "in" the reference is
tested on fields it did not see. Reported: share of test fields flagged ``unlike_training_data``,
``many_uncertain_cells`` or either; what the app itself says with the model's card (or built-in defaults);
the slide flags on pseudo-slides of 10 fields; and greyscale / noise versions of fields.

    .venv/bin/python -m benchmarks.foreign_lab_flags [--model DIR] [--out docs/benchmarks/foreign_lab_flags.md]
"""

from __future__ import annotations

import argparse
import csv
import zlib
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import ROOT
from malaria_desktop.core.classification import domain_check as dc  # noqa: E402
from malaria_desktop.core.classification.classifier import Classifier  # noqa: E402
from malaria_desktop.core.classification.crop_io import read_crop  # noqa: E402
from malaria_desktop.core.classification.crops import crop_cell  # noqa: E402
from malaria_desktop.core.classification.plausibility import image_warnings, warning_kind  # noqa: E402
from malaria_desktop.core.image_io import load_image  # noqa: E402
from malaria_desktop.core.pipeline import analyze_images, expand_inputs, iter_results  # noqa: E402
from malaria_desktop.core.report.counts import summarise_slide  # noqa: E402
from training.reference_stats import MARGIN, compute_reference, field_of  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
LABS = ("nih", "bccd", "chula")
SLIDE_FIELDS = 10


NOTES = """
How to read: rows whose test lab is **not** in the reference should be flagged (the lab is foreign to
it); rows whose test lab **is** in the reference are false alarms on fields like the training data (the
test fields are the half the reference did not see). "by response" is the lower quartile of P(parasitized) of
the field's cells above every healthy reference field's (model-specific: it needs probabilities of cells the
model did not train on; the NIH half A uses the model's validation patients only, from its split.csv).
Limits of 1.0 mean the check cannot fire for that lab (e.g. the model already misreads that lab's healthy
cells, or the uncertain band is too wide). "What the app itself reports" is the shipped behaviour: the
model's card reference, or the built-in NIH defaults (colour and size only) when the card has none.
"""


class LabData:
    """Reference crops (half A) and test-field statistics (half B) of one lab."""

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []
        self.fields: list[str] = []
        self.sizes: list[float] = []
        self.probs: list[float] = []
        self.test: list[dc.FieldStats | None] = []
        self.app_kinds: list[set[str]] = []  # warning kinds the app gave the test fields
        self.results: list = []  # ImageResults of the test fields (foreign labs)


def foreign_lab(folder: Path, classifier: Classifier, band, limit: int | None) -> LabData:
    data = LabData()
    paths = expand_inputs([folder])[:limit]
    for index, result in enumerate(iter_results(analyze_images(paths, classifier))):
        if result.status != "ok":
            continue
        image = load_image(result.path)
        if index % 2 == 0:  # half A: reference crops, cut the app's way
            for c in dc.typical_cells(result.cells):
                data.crops.append(crop_cell(image, c.cell.bbox, c.cell.mask, classifier.input_size))
                data.fields.append(result.path.name)
                data.sizes.append(max(c.cell.bbox[2], c.cell.bbox[3]))
                data.probs.append(c.probability)
        else:
            data.test.append(dc.field_stats(image, result.cells, classifier.input_size, band))
            data.app_kinds.append({warning_kind(w) for w in result.warnings})
            data.results.append(result)
    return data


def model_split(model_dir: Path) -> dict[str, str]:
    """patient -> train/val/test from the model folder's split.csv ({} when it has none)."""
    path = model_dir / "split.csv"
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as fh:
        return {r["patient"]: r["split"] for r in csv.DictReader(fh)}


def nih_lab(root: Path, classifier: Classifier, band, limit: int | None) -> LabData:
    """Half A = the model's train+val patients (probabilities of val only), half B = its test patients;
    without a split.csv, patients by a hash (and every probability is used)."""
    data = LabData()
    split = model_split(classifier.model_dir)
    rows = [r for r in csv.DictReader(open(root / "manifest.csv", encoding="utf-8")) if r["label"] == "Uninfected"]
    by_field: dict[str, list[dict]] = {}
    for r in rows:
        by_field.setdefault(field_of(r["path"], r["patient_id"]), []).append(r)
    fields = sorted(by_field)[:limit]
    for field in fields:
        group = by_field[field]
        crops = np.stack([read_crop(root / r["path"], classifier.input_size) for r in group])
        probs = classifier.predict(crops)
        sizes = [max(int(r["width"]), int(r["height"])) for r in group]
        patient = group[0]["patient_id"]
        part = split.get(patient) or ("val" if zlib.crc32(patient.encode()) % 2 == 0 else "test")
        if part in ("train", "val"):
            data.crops += list(crops)
            data.fields += [field] * len(group)
            data.sizes += sizes
            data.probs += list(probs) if part == "val" else [float("nan")] * len(group)
        elif len(group) >= dc.MIN_CELLS:
            stats = dc.summarise_cells(dc.crop_colour_stats(crops), sizes, probs, band)
            data.test.append(stats)
    return data


def reference_from(labs: dict[str, LabData], names: tuple[str, ...], band, margin: float = MARGIN) -> dc.Reference:
    crops = np.stack([c for n in names for c in labs[n].crops])
    ref = compute_reference(
        crops, [n for n in names for _ in labs[n].crops], [f"{n}:{f}" for n in names for f in labs[n].fields],
        sizes=[s for n in names for s in labs[n].sizes], probabilities=[p for n in names for p in labs[n].probs],
        uncertain_band=band, margin=margin)
    return dc.parse_reference(ref)


def margin_sweep(labs: dict[str, LabData], band) -> list[str]:
    """Leave-one-lab-out at several margins: flagged when the lab is out vs false alarms when it is in."""
    lines = ["", "Margin (the factor on every limit; the card uses 1.25) - flagged either way, leave one lab out:",
             "", "| margin | " + " | ".join(f"{n} out | {n} in" for n in LABS) + " |",
             "|---|" + "---|---|" * len(LABS)]
    for margin in (1.0, 1.25, 1.5, 2.0):
        full = reference_from(labs, LABS, band, margin)
        cells = []
        for name in LABS:
            out_ref = reference_from(labs, tuple(n for n in LABS if n != name), band, margin)
            cells += [f"{shares(labs[name].test, out_ref)[0][-1]:.0%}", f"{shares(labs[name].test, full)[0][-1]:.0%}"]
        lines.append(f"| {margin:g} | " + " | ".join(cells) + " |")
    return lines


REASONS = ("stain colour", "cell size", "classifier response")


def shares(stats: list[dc.FieldStats | None], reference: dc.Reference) -> tuple[list[float], int]:
    """Shares of judged fields: unlike (any reason), each reason, many_uncertain_cells, either; and the count."""
    judged = [dc.judge(s, reference) for s in stats if s is not None and s.n_cells >= dc.MIN_CELLS]
    n = max(len(judged), 1)
    unlike = [next((w for w in ws if warning_kind(w) == dc.UNLIKE), "") for ws in judged]
    out = [sum(bool(u) for u in unlike) / n]
    out += [sum(reason in u.split(" unlike ")[0] for u in unlike) / n for reason in REASONS]
    out += [sum(any(warning_kind(w) == dc.UNCERTAIN for w in ws) for ws in judged) / n,
            sum(bool(ws) for ws in judged) / n]
    return out, len(judged)


def altered_fields(paths: list[Path]) -> tuple[float, float]:
    """Share of greyscale copies flagged greyscale, and of same-size noise images flagged random_noise."""
    rng = np.random.default_rng(0)
    grey = noise = 0
    for path in paths:
        image = load_image(path)
        g = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        grey += any(warning_kind(w) == "greyscale" for w in image_warnings(g))
        n = rng.integers(0, 256, image.shape, dtype=np.uint8)
        noise += any(warning_kind(w) == "random_noise" for w in image_warnings(n))
    return grey / len(paths), noise / len(paths)


def app_lines(labs: dict[str, LabData], card) -> list[str]:
    """What the app itself said on the foreign labs' test fields, and slide flags on pseudo-slides."""
    lines = ["", f"What the app itself reports with this model's card ({card.reference.source}) on the test half:", "",
             "| lab | fields | unlike_training_data | many_uncertain_cells | either | pseudo-slides of 10 fields | "
             "parasitemia (all test fields) | slides flagged implausible_parasitemia | slides flagged "
             "images_unlike_training_data |", "|---|---|---|---|---|---|---|---|---|"]
    for name in ("bccd", "chula"):
        lab = labs[name]
        n = len(lab.app_kinds)
        slides = [lab.results[i:i + SLIDE_FIELDS] for i in range(0, len(lab.results), SLIDE_FIELDS)]
        flagged = sum("implausible_parasitemia" in summarise_slide(s).flags for s in slides)
        unlike = sum("images_unlike_training_data" in summarise_slide(s).flags for s in slides)
        pct = summarise_slide(lab.results).parasitemia_pct or 0.0
        lines.append(f"| {name} | {n} | {sum(dc.UNLIKE in k for k in lab.app_kinds) / n:.0%} | "
                     f"{sum(dc.UNCERTAIN in k for k in lab.app_kinds) / n:.0%} | "
                     f"{sum(bool({dc.UNLIKE, dc.UNCERTAIN} & k) for k in lab.app_kinds) / n:.0%} | "
                     f"{len(slides)} | {pct:.1f} % | "
                     f"{flagged}/{len(slides)} | {unlike}/{len(slides)} |")
    return lines


def loo_lines(labs: dict[str, LabData], band) -> list[str]:
    """The leave-one-lab-out table, the full reference's limits and the margin sweep."""
    lines = ["| reference labs (half A) | test lab (half B) | in reference | unlike_training_data | by colour | "
             "by size | by response | many_uncertain_cells | either |", "|---|---|---|---|---|---|---|---|---|"]
    configs = [LABS, ("bccd", "chula"), ("nih", "chula"), ("nih", "bccd"), ("nih",)]
    limits = ["", "Limits of the full reference (nih+bccd+chula, half A):", "",
              "| lab | fields | colour_limit | size_px | response_limit | uncertain_share_limit |",
              "|---|---|---|---|---|---|"]
    for names in configs:
        reference = reference_from(labs, names, band)
        if names == LABS:
            limits += [f"| {lab.name} | {lab.fields} | {lab.colour_limit:.2f} | {lab.size_px} | "
                       f"{lab.response_limit} | {lab.uncertain_share_limit} |" for lab in reference.labs]
        for test in LABS:
            values, n = shares(labs[test].test, reference)
            lines.append(f"| {'+'.join(names)} | {test} ({n}) | {'yes' if test in names else '**no**'} | "
                         + " | ".join(f"{v:.0%}" for v in values) + " |")
    return lines + limits + margin_sweep(labs, band)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: trained_model/)")
    parser.add_argument("--nih", type=Path, default=DATA / "nih_cells")
    parser.add_argument("--bccd", type=Path, default=DATA / "bccd" / "images")
    parser.add_argument("--chula", type=Path, default=DATA / "chula_rbc12" / "images")
    parser.add_argument("--limit", type=int, default=None, help="at most this many fields per lab (quick runs)")
    parser.add_argument("--app-only", action="store_true",
                        help="only what the app reports with the model's own card (e.g. a card with a reference)")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables as Markdown here")
    args = parser.parse_args()
    classifier = Classifier.load(args.model)
    card = classifier.card
    b = card.uncertain_band()
    band = (b.low, b.high)
    labs = {"bccd": foreign_lab(args.bccd, classifier, band, args.limit),
            "chula": foreign_lab(args.chula, classifier, band, args.limit)}
    lines = [f"model `{card.name}`; uncertain band {band[0]:.3f}-{band[1]:.3f}"]
    if not args.app_only:
        labs["nih"] = nih_lab(args.nih, classifier, band, args.limit)
        lines[0] += "; test fields judged per lab: " + ", ".join(
            f"{n} {sum(s is not None for s in labs[n].test)}" for n in LABS)
        lines += [""] + loo_lines(labs, band)
    lines += app_lines(labs, card)
    sample = expand_inputs([args.bccd])[:20] + expand_inputs([args.chula])[:20]
    grey, noise = altered_fields(sample)
    lines += ["", f"Implausible images ({len(sample)} fields, 20 per foreign lab): greyscale copies flagged "
              f"greyscale {grey:.0%}; uniform-noise images of the same size flagged random_noise {noise:.0%}."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Foreign-lab flags (benchmarks/foreign_lab_flags.py)\n\n" + text + "\n" + NOTES,
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
