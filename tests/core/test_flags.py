"""Safety nets: implausible images (grey, noise, no cells, few cells), implausible parasitemia, per-image
warnings counted in the slide summary and CSV, and the "unlike the training data" check on generated labs."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from malaria_desktop.core.classification import domain_check as dc
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.classification.model_card import parse_model_card
from malaria_desktop.core.classification.plausibility import count_kinds, image_warnings, warning_kind
from malaria_desktop.core.errors import ModelError
from malaria_desktop.core.pipeline import analyze_image
from malaria_desktop.core.report.counts import SLIDE_COLUMNS, summarise_image, summarise_slide, write_slide_csv
from malaria_desktop.core.results import Cell, CellResult, ImageResult
from malaria_desktop.core.synthetic import generate_smear


@pytest.fixture(scope="module")
def classifier(tiny_model_dir: Path) -> Classifier:
    return Classifier.load(tiny_model_dir)


def kinds(warnings) -> set[str]:
    return {warning_kind(w) for w in warnings}


def fake_result(n_cells: int, n_par: int, warnings=(), name: str = "f.png") -> ImageResult:
    cells = []
    for i in range(n_cells):
        cell = Cell(i, (3 * i, 0, 2, 2), (3 * i + 1.0, 1.0), 4, np.ones((2, 2), bool), np.zeros((0, 2), np.int32),
                    False)
        label = "parasitized" if i < n_par else "uninfected"
        cells.append(CellResult(cell, 0.9 if i < n_par else 0.1, label))  # type: ignore[arg-type]
    return ImageResult(Path(name), "ok", image_shape=(10, 400), cells=tuple(cells), warnings=tuple(warnings))


# ---------------------------------------------------------------- implausible images


def test_real_looking_fields_get_no_image_warning() -> None:
    for seed in range(4):
        assert image_warnings(generate_smear(seed, 640, 480).image) == ()
    assert image_warnings(np.full((300, 400, 3), (235, 205, 215), np.uint8)) == ()  # blank: "no cells", not noise
    assert kinds(image_warnings(np.full((300, 400, 3), 200, np.uint8))) == {"greyscale"}


def test_greyscale_field_is_flagged_and_still_analysed(classifier: Classifier) -> None:
    rgb = generate_smear(1, 640, 480).image
    grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert kinds(image_warnings(grey)) == {"greyscale"}
    result = analyze_image(grey, classifier)
    assert "greyscale" in kinds(result.warnings) and result.n_cells > 0


@pytest.mark.parametrize("make", [
    lambda rng: rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),  # uniform colour noise
    lambda rng: np.clip(rng.normal(180, 30, (480, 640, 3)), 0, 255).astype(np.uint8),  # Gaussian noise
    lambda rng: np.repeat(rng.integers(0, 256, (480, 640, 1), dtype=np.uint8), 3, axis=2),  # grey noise
])
def test_random_noise_is_flagged_and_counts_nothing(classifier: Classifier, make) -> None:
    noise = make(np.random.default_rng(0))
    assert "random_noise" in kinds(image_warnings(noise))
    result = analyze_image(noise, classifier)
    assert result.status == "ok" and result.n_cells == 0 and "random_noise" in kinds(result.warnings)
    slide = summarise_slide([result])
    assert "implausible_images" in slide.flags and "hyperparasitaemia" not in slide.flags
    assert not slide.target_reached and dict(slide.image_warnings)["random_noise"] == 1


def test_no_red_cells_and_too_few_cells_reach_the_slide(classifier: Classifier) -> None:
    blank = analyze_image(np.full((480, 640, 3), 225, np.uint8), classifier, path="blank.png")
    sparse = analyze_image(generate_smear(2, 640, 480, density=0.01).image, classifier, path="sparse.png")
    assert blank.n_cells == 0 and "no_cells_found" in summarise_image(blank).flags
    assert "very_few_cells_found" in kinds(sparse.warnings)
    counts = dict(summarise_slide([blank, sparse]).image_warnings)
    assert counts["no_cells_found"] == 1 and counts["very_few_cells_found"] == 1


def test_warning_kinds() -> None:
    assert warning_kind("blurred: the image looks out of focus") == "blurred"
    assert warning_kind("very few cells found (12)") == "very_few_cells_found"
    assert warning_kind("unlike_training_data: stain colour unlike ...") == "unlike_training_data"
    assert count_kinds(["very few cells found (3)", "very few cells found (4)", "blurred: x"]) == {
        "blurred": 1, "very_few_cells_found": 2}


# ---------------------------------------------------------------- slide plausibility


def test_implausible_parasitemia_above_25_percent() -> None:
    assert "implausible_parasitemia" not in summarise_slide([fake_result(100, 25)]).flags  # 25 % is possible
    high = summarise_slide([fake_result(100, 30)])
    assert {"hyperparasitaemia", "implausible_parasitemia"} <= set(high.flags)
    assert "implausible_parasitemia" not in summarise_slide([fake_result(100, 3)]).flags


def test_image_warnings_counted_per_image_in_slide_csv(tmp_path: Path) -> None:
    unlike = "unlike_training_data: stain colour unlike the training data (nearest lab: nih)"
    results = [fake_result(50, 0, [unlike, "blurred: out of focus"], "a.png"), fake_result(50, 0, [unlike], "b.png"),
               fake_result(50, 0, [], "c.png"), ImageResult(Path("bad.png"), "error", error="broken")]
    for items in (results, [summarise_image(r) for r in results]):  # results or summaries: same counts
        slide = summarise_slide(items)
        assert dict(slide.image_warnings) == {"unlike_training_data": 2, "blurred": 1}
        assert "images_unlike_training_data" in slide.flags
    path = write_slide_csv(tmp_path / "slide.csv", summarise_slide(results))
    with open(path, encoding="utf-8-sig", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert list(row) == list(SLIDE_COLUMNS)
    assert row["image_warnings"] == "blurred=1;unlike_training_data=2"
    assert "images_unlike_training_data" in row["flags"]


# ---------------------------------------------------------------- unlike the training data


def lab_fields(classifier: Classifier, seeds, transform=lambda im: im, side: int = 480, **kw):
    """(image, result) of generated fields of one 'lab' (fixed stain strength and cell size)."""
    out = []
    for seed in seeds:
        image = transform(generate_smear(seed, side, side * 3 // 4, parasitized_fraction=0.0, stain=1.0, **kw).image)
        out.append((image, analyze_image(image, classifier)))
    return out


def reference_from(fields, size: int) -> dc.Reference:
    """The card's ``reference`` computed with the training function from the fields' typical cells."""
    from training.reference_stats import compute_reference

    crops, names, sizes = [], [], []
    for i, (image, result) in enumerate(fields):
        for c in dc.typical_cells(result.cells):
            crops.append(crop_cell(image, c.cell.bbox, c.cell.mask, size))
            names.append(f"synth:{i}")
            sizes.append(max(c.cell.bbox[2], c.cell.bbox[3]))
    data = compute_reference(np.stack(crops), ["synth"] * len(crops), names, sizes=sizes)
    assert list(data["labs"]) == ["synth"] and data["labs"]["synth"]["fields"] == len(fields)
    return dc.parse_reference(data)


@pytest.fixture(scope="module")
def synth_reference(classifier: Classifier) -> dc.Reference:
    return reference_from(lab_fields(classifier, range(100, 114), cell_diameter=40), classifier.input_size)


def test_fields_like_the_reference_are_not_flagged(classifier: Classifier, synth_reference: dc.Reference) -> None:
    for image, result in lab_fields(classifier, range(200, 204), cell_diameter=40):
        assert dc.check_field(image, result.cells, classifier.input_size, synth_reference) == ()


def test_foreign_stain_is_flagged(classifier: Classifier, synth_reference: dc.Reference) -> None:
    bluish = lambda im: np.ascontiguousarray(im[..., ::-1])  # noqa: E731 - pink cells turn blue
    for image, result in lab_fields(classifier, range(200, 203), bluish, cell_diameter=40):
        warnings = dc.check_field(image, result.cells, classifier.input_size, synth_reference)
        assert kinds(warnings) == {"unlike_training_data"} and "stain colour" in warnings[0]


def test_foreign_magnification_is_flagged(classifier: Classifier, synth_reference: dc.Reference) -> None:
    for image, result in lab_fields(classifier, range(200, 203), side=960, cell_diameter=95):
        warnings = dc.check_field(image, result.cells, classifier.input_size, synth_reference)
        assert kinds(warnings) == {"unlike_training_data"} and "cell size" in warnings[0]


def test_many_uncertain_cells() -> None:
    nih = dict(dc.DEFAULT_REFERENCE_DATA["labs"]["nih"], uncertain_share_limit=0.2)
    ref = dc.parse_reference(dict(dc.DEFAULT_REFERENCE_DATA, uncertain_band=[0.2, 0.6], labs={"nih": nih}))
    like = dc.FieldStats(50, tuple(dc.DEFAULT_REFERENCE_DATA["labs"]["nih"]["colour_median"]), 130.0, 0.1)
    assert dc.judge(like, ref) == ()
    confused = dc.FieldStats(50, like.colour, 130.0, 0.5)
    assert kinds(dc.judge(confused, ref)) == {"many_uncertain_cells"}
    assert dc.judge(dc.FieldStats(3, like.colour, 300.0, 0.9), ref) == ()  # too few cells to judge


def test_pipeline_uses_the_card_reference_or_the_defaults(classifier: Classifier) -> None:
    assert classifier.card.reference.source.startswith("built-in")
    smear = generate_smear(5, 640, 480, cell_diameter=45, stain=1.0)  # cells far smaller than NIH's ~130 px
    assert "unlike_training_data" in kinds(analyze_image(smear.image, classifier).warnings)


def _per_crop_colour_stats(crops: np.ndarray) -> np.ndarray:
    """Reference: L*a*b* mean/std of each crop's non-black pixels, one crop at a time."""
    out = np.full((len(crops), 6), np.nan, np.float32)
    for i, crop in enumerate(crops):
        mask = crop.max(axis=2) > 0
        if mask.sum() >= 4:
            pix = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)[mask]
            out[i] = np.r_[pix.mean(axis=0), pix.std(axis=0)]
    return out


def test_crop_colour_stats_match_the_training_statistic() -> None:
    from training.stain import cell_colour_stats

    image = generate_smear(3, 480, 360).image
    result = dc.typical_cells(analyze_image_cells(image))
    crops = np.stack([crop_cell(image, c.cell.bbox, c.cell.mask, 48) for c in result]
                     + [np.zeros((48, 48, 3), np.uint8)])
    a, b = dc.crop_colour_stats(crops), _per_crop_colour_stats(crops)
    assert np.allclose(a, b, atol=1e-2, equal_nan=True) and np.isnan(a[-1]).all()
    assert np.array_equal(cell_colour_stats(crops), a, equal_nan=True)  # training uses the same function


def analyze_image_cells(image: np.ndarray):
    from malaria_desktop.core.segmentation.engine import segment_cells

    return [CellResult(c, 0.1, "uninfected") for c in segment_cells(image).cells]


def test_model_card_reference_is_validated() -> None:
    base = {"format_version": 1, "input_size": 48, "preprocessing": {"scale": 1 / 255}, "output": {"kind": "sigmoid"},
            "class_names": ["uninfected", "parasitized"], "threshold": 0.5}
    assert parse_model_card(dict(base)).reference is dc.DEFAULT_REFERENCE
    card = parse_model_card(dict(base, reference=dc.DEFAULT_REFERENCE_DATA))
    assert card.reference.source == "model card" and card.reference.labs[0].name == "nih"
    broken = dict(dc.DEFAULT_REFERENCE_DATA, labs={"x": {"colour_median": [1, 2]}})
    with pytest.raises(ModelError, match="reference"):
        parse_model_card(dict(base, reference=broken))


def test_classifier_response_unlike_any_healthy_training_field() -> None:
    """A lab that measures like the reference but that the model misreads (BCCD vs NIH) is flagged."""
    from training.reference_stats import compute_reference

    rng = np.random.default_rng(0)
    crops = np.zeros((240, 32, 32, 3), np.uint8)
    crops[:, 6:26, 6:26] = (200, 120, 130) + rng.integers(-12, 12, (240, 1, 1, 3))  # pink cells, varied per cell
    fields = [f"lab:{i // 12}" for i in range(240)]  # 20 fields of 12 cells
    probs = rng.uniform(0.0, 0.04, 240)
    data = compute_reference(crops, ["lab"] * 240, fields, probabilities=probs, uncertain_band=(0.3, 0.7))
    lab = data["labs"]["lab"]
    assert 0.05 <= lab["response_limit"] <= 0.06  # the documented floor, above 1.25 x q99 (~0.04)
    assert lab["uncertain_share_limit"] == 0.15 and data["uncertain_band"] == [0.3, 0.7]
    ref = dc.parse_reference(data)
    colour = dc.summarise_cells(dc.crop_colour_stats(crops[:12])).colour
    assert dc.judge(dc.FieldStats(12, colour, None, 0.0, 0.02), ref) == ()
    warnings = dc.judge(dc.FieldStats(12, colour, None, 0.0, 0.4), ref)
    assert kinds(warnings) == {"unlike_training_data"} and "classifier response" in warnings[0]
    assert "stain colour" not in warnings[0]


def test_true_high_parasitemia_does_not_read_as_a_foreign_lab() -> None:
    """The response statistic is the lower quartile: 60 % infected cells leave it at the uninfected level."""
    colour = np.tile(np.array([[165.0, 143.0, 132.0, 27.0, 3.5, 2.2]], np.float32), (100, 1))
    probs = np.r_[np.full(60, 0.95), np.full(40, 0.01)]
    stats = dc.summarise_cells(colour, None, probs)
    assert stats is not None and stats.response == pytest.approx(0.01)
    nih = dict(dc.DEFAULT_REFERENCE_DATA["labs"]["nih"], response_limit=0.05)
    ref = dc.parse_reference(dict(dc.DEFAULT_REFERENCE_DATA, labs={"nih": nih}))
    assert dc.judge(stats, ref) == ()
