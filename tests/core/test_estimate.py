"""The slide estimate: Rogan–Gladen point, an interval that holds the truth, and the plain verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from malaria_desktop.core.report.estimate import (
    ErrorRates,
    critical_count,
    density_shown,
    estimate_slide,
    rates_from_card,
    rogan_gladen,
    verdict_only,
    verdict_text,
)

ROOT = Path(__file__).resolve().parents[2]
RATES = ErrorRates(tp=860, fn=140, fp=5, tn=995)  # sensitivity 0.86, specificity 0.995


def test_rogan_gladen_inverts_the_apparent_proportion() -> None:
    se, sp, p = 0.8, 0.99, 0.05
    apparent = p * se + (1 - p) * (1 - sp)
    assert float(rogan_gladen(apparent, se, sp)) == pytest.approx(p)
    assert float(rogan_gladen(0.001, se, sp)) == 0.0  # fewer calls than false positives: clipped to 0


def test_rates_from_the_bundled_card_pool_validation_and_test() -> None:
    card = json.loads((ROOT / "trained_model" / "model_card.json").read_text())
    rates = rates_from_card(card)
    assert rates is not None
    m = card["metrics"]
    assert rates.tp == m["validation"]["confusion"]["tp"] + m["test"]["confusion"]["tp"]
    assert 0.8 < rates.sensitivity < 0.95 and 0.98 < rates.specificity < 1
    assert rates_from_card({"name": "no figures"}) is None
    own = {"error_rates": {"tp": 90, "fn": 10, "fp": 2, "tn": 98, "source": "cross-validation"}}
    assert rates_from_card(own) == ErrorRates(90, 10, 2, 98, source="cross-validation")
    assert ErrorRates.from_dict(RATES.as_dict()) == RATES


def test_bad_rates_and_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        ErrorRates(tp=1, fn=9, fp=9, tn=1)  # worse than chance: no correction possible
    with pytest.raises(ValueError):
        estimate_slide(10, 11, RATES)


def test_healthy_slide_reads_not_seen_with_a_detection_limit() -> None:
    est = estimate_slide(2000, 6, RATES)  # ~ the false positives a healthy slide gives
    assert est.result == "not_seen"
    assert est.ci_low_pct == 0.0 and 0 < est.ci_high_pct < 1.5
    assert est.detection_limit_pct is not None and 0 < est.detection_limit_pct < 3
    assert not density_shown(est)
    assert "No parasites seen in 2,000 cells" in verdict_text(est)


def test_clear_positive_is_seen_and_interval_holds_the_corrected_figure() -> None:
    est = estimate_slide(2000, 180, RATES)
    assert est.result == "parasites_seen" and density_shown(est)
    assert est.ci_low_pct < est.estimate_pct < est.ci_high_pct
    assert 9.0 < est.estimate_pct < 11.0  # (0.09 - 0.005) / 0.855 ~ 9.9 %, not the apparent 9 %
    assert "Parasites seen" in verdict_text(est)


def test_too_few_cells_or_implausible_images_are_indeterminate() -> None:
    assert estimate_slide(300, 40, RATES, min_cells=500).result == "indeterminate"
    assert estimate_slide(0, 0, RATES).result == "indeterminate"
    est = estimate_slide(2000, 40, RATES, flags=("implausible_images",))
    assert est.result == "indeterminate" and "review required" in verdict_text(est)


@pytest.mark.parametrize(("n", "k", "flags", "share"), [
    (0, 0, (), 1.0), (2000, 3, (), 1.0), (2000, 60, (), 1.0), (2000, 60, (), 0.3), (300, 30, (), 1.0),
    (2000, 60, ("implausible_images",), 1.0)])
def test_verdict_only_is_the_estimate_without_interval_and_limit(n, k, flags, share) -> None:
    """What the window shows at once after a key (issue 20) is what the full estimate then says."""
    rates = RATES.reviewed(share) if share < 1 else RATES
    full, quick = estimate_slide(n, k, rates, flags=flags), verdict_only(n, k, rates, flags=flags)
    assert (quick.ci_low_pct, quick.ci_high_pct, quick.detection_limit_pct) == (None, None, None)
    assert (quick.result, quick.estimate_pct, quick.critical_count, quick.reason, quick.cells_examined) == (
        full.result, full.estimate_pct, full.critical_count, full.reason, full.cells_examined)
    if full.result == "parasites_seen":
        assert verdict_text(quick) == f"Parasites seen: {full.estimate_pct:.2f} % (95 % CI being computed)"
    elif full.result == "indeterminate":
        assert verdict_text(quick) == verdict_text(full)


def test_more_cells_lower_the_critical_count_per_cell() -> None:
    small, large = critical_count(500, RATES), critical_count(5000, RATES)
    assert small / 500 > large / 5000


def test_review_of_every_call_narrows_the_interval() -> None:
    auto = estimate_slide(2000, 30, RATES)
    reviewed = estimate_slide(2000, 30, RATES.reviewed(0.0))
    assert reviewed.ci_high_pct - reviewed.ci_low_pct < auto.ci_high_pct - auto.ci_low_pct
    assert reviewed.critical_count < auto.critical_count


@pytest.mark.parametrize("truth", [0.005, 0.02, 0.10])
def test_interval_covers_simulated_truth_when_the_rates_are_right(truth: float) -> None:
    """Slides simulated with the rates the estimate assumes: the 95 % interval holds the truth."""
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(20):
        n_pos = rng.binomial(2000, truth)
        calls = rng.binomial(n_pos, RATES.sensitivity) + rng.binomial(2000 - n_pos, 1 - RATES.specificity)
        est = estimate_slide(2000, int(calls), RATES)
        covered += est.ci_low_pct <= 100 * truth <= est.ci_high_pct
    assert covered >= 18


def test_slide_summary_and_slide_csv_carry_the_estimate(tmp_path) -> None:
    from malaria_desktop.core.report.counts import SLIDE_COLUMNS, ImageSummary, summarise_slide, write_slide_csv

    healthy = [ImageSummary(f"f{i}.png", "ok", "", 500, 1, 0.2, 10000.0) for i in range(4)]
    plain = summarise_slide(healthy)
    assert plain.slide_result is None and plain.parasites_per_ul is not None  # no rates: as before
    slide = summarise_slide(healthy, rates=RATES)
    assert slide.slide_result == "not_seen" and slide.parasites_per_ul is None  # no density below the limit
    assert slide.parasitemia_ci_low_pct == 0.0 and slide.detection_limit_pct is not None
    positive = summarise_slide([ImageSummary("f.png", "ok", "", 2000, 200, 10.0, 5e5)], rates=RATES)
    assert positive.slide_result == "parasites_seen" and positive.parasites_per_ul == pytest.approx(5e5)
    reviewed = summarise_slide([ImageSummary("f.png", "ok", "", 2000, 200, 10.0, 5e5)], rates=RATES,
                               unconfirmed_share=0.0)
    assert reviewed.parasitemia_estimate_pct == pytest.approx(10.0 / RATES.sensitivity)  # no false calls left
    assert reviewed.parasitemia_ci_low_pct > positive.parasitemia_ci_low_pct
    text = write_slide_csv(tmp_path / "slide.csv", slide).read_text(encoding="utf-8-sig").splitlines()
    assert text[0].split(",")[-5:] == ["parasitemia_estimate_pct", "parasitemia_ci_low_pct",
                                        "parasitemia_ci_high_pct", "slide_result", "detection_limit_pct"]
    assert list(SLIDE_COLUMNS)[-2:] == ["slide_result", "detection_limit_pct"]
    assert text[1].split(",")[-2] == "not_seen"
