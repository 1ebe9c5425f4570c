"""The slide's parasitemia with its uncertainty, and a plain verdict: parasites seen / not seen / indeterminate.

Why: the apparent proportion (cells called parasitized / cells counted) is not the parasitemia. At 1 %
true parasitemia a specificity of 0.99 alone doubles it, and missed parasites lower it; and a healthy slide
always has a few false calls. So the report gives (method in docs/estimate.md):

- a Rogan–Gladen correction of the apparent proportion ``a``: ``p = (a + Sp - 1) / (Se + Sp - 1)``, clipped
  to [0, 1], with the active model's sensitivity ``Se`` and specificity ``Sp`` (``ErrorRates``, from the
  model card's confusion counts);
- a 95 % interval that combines the counting error (``k`` calls ~ Binomial(n, p Se + (1 - p)(1 - Sp)))
  with the uncertainty of ``Se`` and ``Sp`` (Beta from their counts) and a lab-to-lab shift of both (normal
  on the logit scale, ``lab_sd_*``: a model meets stains it never saw): the likelihood averaged over draws
  of the rates, flat prior on ``p``, equal-tailed; it starts at 0 when no parasites are seen;
- a detection limit in the CLSI EP17 sense: the critical count ``c`` is the 95th percentile of calls on a
  healthy slide of ``n`` cells; ``parasites_seen`` means more than ``c`` calls; the detection limit is the
  parasitemia at which 95 % of slides of ``n`` cells would give more than ``c`` calls;
- ``indeterminate`` when the verdict cannot be given: fewer cells than the minimum count, or the images are
  not smears / the figure is implausible (review required).

Draws use a fixed seed, so the same counts always give the same interval.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

SlideResult = Literal["parasites_seen", "not_seen", "indeterminate"]
RESULT_WORDS: dict[str, str] = {"parasites_seen": "Parasites seen", "not_seen": "No parasites seen",
                                "indeterminate": "Indeterminate \u2013 review required"}
DRAWS = 4000
GRID_DRAWS = 1000  # rate draws averaged in the interval's likelihood
GRID = 1000  # points of the proportion grid (squared spacing: fine near 0)
SEED = 20261207
CONFIDENCE = 0.95
# logit-scale SD of a lab's sensitivity / specificity around the card's, from the cross-lab benchmark
# (docs/benchmarks/cross_lab_fields.md, NIH TEST cells in BCCD and Chula colours): sensitivity 0.860 (card,
# pooled) -> 0.800 / 0.808 = 0.43 / 0.38 logits, specificity 0.9947 -> 0.9877 / 0.9916 = 0.85 / 0.47 logits;
# root mean square 0.4 and 0.7. A calibrated card states its own (its lab's rates are measured).
LAB_SD_SENSITIVITY = 0.4
LAB_SD_SPECIFICITY = 0.7
# flags under which the model's error rates say nothing about the slide (core.report.counts words them)
NO_VERDICT_FLAGS = frozenset({"no_images_analysed", "implausible_images", "implausible_parasitemia"})


@dataclass(frozen=True)
class ErrorRates:
    """Counts behind the active model's sensitivity and specificity, and how far a lab may move them."""

    tp: float
    fn: float
    fp: float
    tn: float
    lab_sd_sensitivity: float = LAB_SD_SENSITIVITY
    lab_sd_specificity: float = LAB_SD_SPECIFICITY
    source: str = ""

    def __post_init__(self) -> None:
        values = (self.tp, self.fn, self.fp, self.tn, self.lab_sd_sensitivity, self.lab_sd_specificity)
        if not all(math.isfinite(v) and v >= 0 for v in values) or self.tp + self.fn <= 0 or self.fp + self.tn <= 0:
            raise ValueError("error rates need non-negative counts with positives and negatives")
        if self.sensitivity + self.specificity <= 1:
            raise ValueError("a model with sensitivity + specificity <= 1 cannot correct a count")

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return self.tn / (self.tn + self.fp)

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "tn": self.tn,
                "lab_sd_sensitivity": self.lab_sd_sensitivity, "lab_sd_specificity": self.lab_sd_specificity,
                "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorRates:
        return cls(float(data["tp"]), float(data["fn"]), float(data["fp"]), float(data["tn"]),
                   float(data.get("lab_sd_sensitivity", LAB_SD_SENSITIVITY)),
                   float(data.get("lab_sd_specificity", LAB_SD_SPECIFICITY)),
                   str(data.get("source", "")))

    def reviewed(self, unconfirmed_share: float) -> ErrorRates:
        """Rates of a reviewed count: only parasitized calls nobody confirmed can still be false.

        ``unconfirmed_share`` in [0, 1] scales the false-positive count; sensitivity is kept (parasites
        the model missed and nobody was shown stay missed), so the interval stays honest upwards.
        """
        share = min(max(float(unconfirmed_share), 0.0), 1.0)
        fp = self.fp * share
        return ErrorRates(self.tp, self.fn, fp, self.tn + self.fp - fp, self.lab_sd_sensitivity,
                          self.lab_sd_specificity * share, f"{self.source}; after review".lstrip("; "))


def rates_from_card(card_data: Mapping[str, Any]) -> ErrorRates | None:
    """The card's ``error_rates`` (a calibrated card, from its cross-validation), else its validation and
    test confusion counts pooled; None when the card has neither (then no interval is given)."""
    raw = card_data.get("error_rates")
    if isinstance(raw, Mapping):
        try:
            return ErrorRates.from_dict(raw)
        except (KeyError, TypeError, ValueError):
            return None
    metrics = card_data.get("metrics")
    if not isinstance(metrics, Mapping):
        return None
    total = {"tp": 0.0, "fn": 0.0, "fp": 0.0, "tn": 0.0}
    used = []
    for split in ("validation", "test"):
        confusion = (metrics.get(split) or {}).get("confusion") if isinstance(metrics.get(split), Mapping) else None
        if isinstance(confusion, Mapping) and all(isinstance(confusion.get(k), (int, float)) for k in total):
            for k in total:
                total[k] += float(confusion[k])
            used.append(split)
    if not used:
        return None
    try:
        return ErrorRates(**total, source=f"model card: {' + '.join(used)} confusion counts")
    except ValueError:
        return None


def rates_from_model_info(info: Any) -> ErrorRates | None:
    """The rates a session stored about its model (``Session.model["error_rates"]``); None when absent."""
    raw = info.get("error_rates") if isinstance(info, Mapping) else None
    try:
        return ErrorRates.from_dict(raw) if isinstance(raw, Mapping) else None
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SlideEstimate:
    """Corrected parasitemia with its 95 % interval, the verdict and the detection limit it implies."""

    estimate_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    result: SlideResult
    detection_limit_pct: float | None
    critical_count: int | None  # more calls than this: parasites seen
    cells_examined: int
    reason: str = ""


def _logit_draws(rng: np.random.Generator, a: float, b: float, sd: float, size: int) -> np.ndarray:
    """Beta(a + ½, b + ½) draws shifted on the logit scale by N(0, sd)."""
    x = np.clip(rng.beta(a + 0.5, b + 0.5, size), 1e-9, 1 - 1e-9)
    return 1.0 / (1.0 + np.exp(-(np.log(x / (1 - x)) + rng.normal(0.0, sd, size))))


@functools.lru_cache(maxsize=8)
def _cached_rate_draws(rates: ErrorRates, size: int) -> tuple[Mapping[str, Any], np.ndarray, np.ndarray]:
    """The rate draws and the generator's state after them, computed once per card: the window asks for a new
    estimate after every result and key, and drawing 2 x 4,000 beta variates each time cost ~1 ms per draw
    set, 31 sets per detection limit (the GUI-thread stalls measured in docs/benchmarks/gui_stalls.md)."""
    rng = np.random.default_rng(SEED)
    se = _logit_draws(rng, rates.tp, rates.fn, rates.lab_sd_sensitivity, size)
    sp = _logit_draws(rng, rates.tn, rates.fp, rates.lab_sd_specificity, size)
    se.flags.writeable = False
    sp.flags.writeable = False
    return rng.bit_generator.state, se, sp


def _rate_draws(rates: ErrorRates, size: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """Rate draws and a generator continuing exactly where drawing them left off (same numbers as drawing anew)."""
    state, se, sp = _cached_rate_draws(rates, size)
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng, se, sp


@functools.lru_cache(maxsize=4)
def _interval_terms(rates: ErrorRates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log q and log(1 - q) on the (rate draw x proportion) grid, and the grid: they depend on the card only,
    so an estimate after each key press costs a multiply-add instead of two million logarithms."""
    _, se, sp = _rate_draws(rates, GRID_DRAWS)
    p = np.linspace(0.0, 1.0, GRID) ** 2
    q = np.clip(p[None, :] * se[:, None] + (1 - p[None, :]) * (1 - sp[:, None]), 1e-12, 1 - 1e-12)
    log_q, log_not_q = np.log(q), np.log1p(-q)
    for array in (p, log_q, log_not_q):
        array.flags.writeable = False
    return p, log_q, log_not_q


def rogan_gladen(apparent: np.ndarray | float, se: np.ndarray | float, sp: np.ndarray | float) -> np.ndarray:
    """True proportion from the apparent one, clipped to [0, 1] (where Se + Sp <= 1 the draw says 0)."""
    denom = np.asarray(se) + np.asarray(sp) - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(denom > 0, (np.asarray(apparent) + np.asarray(sp) - 1) / denom, 0.0)
    return np.clip(p, 0.0, 1.0)


@functools.lru_cache(maxsize=256)
def critical_count(n: int, rates: ErrorRates, draws: int = DRAWS) -> int:
    """95th percentile of parasitized calls on a healthy slide of ``n`` cells (limit of blank)."""
    rng, _, sp = _rate_draws(rates, draws)
    return int(np.quantile(rng.binomial(n, 1 - sp), CONFIDENCE, method="higher"))


@functools.lru_cache(maxsize=256)
def detection_limit(n: int, rates: ErrorRates, critical: int, draws: int = DRAWS) -> float | None:
    """Smallest parasitemia (fraction) at which 95 % of slides of ``n`` cells give more than ``critical`` calls."""

    def detected(p: float) -> float:
        rng, se, sp = _rate_draws(rates, draws)  # the same draws for every p: a monotone curve
        return float(np.mean(rng.binomial(n, p * se + (1 - p) * (1 - sp)) > critical))

    if detected(1.0) < CONFIDENCE:
        return None
    low, high = 0.0, 1.0
    for _ in range(20):  # 2^-20 of the proportion: 1e-4 percentage points, below every printed digit
        mid = (low + high) / 2
        low, high = (low, mid) if detected(mid) >= CONFIDENCE else (mid, high)
    return high


def posterior_interval(n_cells: int, n_parasitized: int, rates: ErrorRates) -> tuple[float, float]:
    """Equal-tailed 95 % interval (fractions) of the true proportion given the calls and uncertain rates.

    The likelihood of ``k`` calls, Binomial(n, p Se + (1 - p)(1 - Sp)), is averaged over draws of the rates
    (their own uncertainty and the lab shift), times a flat prior on ``p``, on a grid dense near 0.
    """
    p, log_q, log_not_q = _interval_terms(rates)
    loglik = n_parasitized * log_q + (n_cells - n_parasitized) * log_not_q
    top = loglik.max()
    like = np.exp(loglik - top).mean(axis=0)
    mass = like * np.gradient(p)
    cdf = np.cumsum(mass) / mass.sum()
    tail = (1 - CONFIDENCE) / 2
    low, high = np.interp([tail, 1 - tail], cdf, p)
    return float(low), float(high)


@functools.lru_cache(maxsize=1024)  # the window asks again after every key press; the counts rarely change
def estimate_slide(n_cells: int, n_parasitized: int, rates: ErrorRates, *, min_cells: int = 500,
                   flags: tuple[str, ...] = ()) -> SlideEstimate:
    """The estimate, interval and verdict for ``n_parasitized`` calls among ``n_cells`` counted cells."""
    quick = verdict_only(n_cells, n_parasitized, rates, min_cells=min_cells, flags=flags)
    if n_cells == 0:
        return quick
    low, high = posterior_interval(n_cells, n_parasitized, rates)
    point = float(rogan_gladen(n_parasitized / n_cells, rates.sensitivity, rates.specificity))
    crit = critical_count(n_cells, rates)
    limit = detection_limit(n_cells, rates, crit)
    if n_parasitized <= crit:
        low = 0.0  # nothing beyond what a healthy slide gives: zero stays inside the interval
    return replace(quick, ci_low_pct=100 * min(low, point), ci_high_pct=100 * max(high, point),
                   detection_limit_pct=None if limit is None else 100 * limit)


def verdict_only(n_cells: int, n_parasitized: int, rates: ErrorRates, *, min_cells: int = 500,
                 flags: tuple[str, ...] = ()) -> SlideEstimate:
    """``estimate_slide`` without the interval and the detection limit (None): the same verdict, point estimate
    and critical count in ~2 ms instead of ~50, so the window can show them at once after each key and finish
    the interval off its GUI thread (issue 20: the estimate was the window's longest stall)."""
    if n_cells < 0 or not 0 <= n_parasitized <= max(n_cells, 0):
        raise ValueError("counts must satisfy 0 <= parasitized <= cells")
    if n_cells == 0:
        return SlideEstimate(None, None, None, "indeterminate", None, None, 0, "no cells counted")
    point = float(rogan_gladen(n_parasitized / n_cells, rates.sensitivity, rates.specificity))
    crit = critical_count(n_cells, rates)
    result: SlideResult = "parasites_seen" if n_parasitized > crit else "not_seen"
    reason = (f"{n_parasitized} parasitized call(s) among {n_cells} cells; more than {crit} are needed to exceed "
              "what a healthy slide gives")
    blocking = sorted(NO_VERDICT_FLAGS.intersection(flags))
    if blocking:
        result, reason = "indeterminate", f"{', '.join(blocking)}: review required"
    elif n_cells < min_cells:
        result, reason = "indeterminate", f"only {n_cells} cells counted (minimum {min_cells}): count more fields"
    return SlideEstimate(100 * point, None, None, result, None, crit, n_cells, reason)


def density_shown(estimate: SlideEstimate | None) -> bool:
    """A parasite density is printed only for a slide on which parasites were seen (or without an estimate)."""
    return estimate is None or estimate.result == "parasites_seen"


def verdict_text(estimate: SlideEstimate | None) -> str:
    """One line for the panel and the printed report."""
    if estimate is None:
        return ""
    if estimate.result == "not_seen":
        lod = estimate.detection_limit_pct
        limit = "" if lod is None else f"; detection limit {lod:.2g} %"
        return f"No parasites seen in {estimate.cells_examined:,} cells{limit}"
    if estimate.result == "indeterminate":
        return f"{RESULT_WORDS['indeterminate']} ({estimate.reason})"
    if estimate.ci_low_pct is None or estimate.ci_high_pct is None:  # verdict_only: the interval is on its way
        return f"Parasites seen: {estimate.estimate_pct:.2f} % (95 % CI being computed)"
    return (f"Parasites seen: {estimate.estimate_pct:.2f} % (95 % CI {estimate.ci_low_pct:.2f}\u2013"
            f"{estimate.ci_high_pct:.2f} %)")


def summary_verdict(summary: Any) -> str:
    """``verdict_text`` of a ``counts.SlideSummary`` (or anything with its estimate fields); "" without one."""
    if getattr(summary, "slide_result", None) is None:
        return ""
    return verdict_text(SlideEstimate(
        summary.parasitemia_estimate_pct, summary.parasitemia_ci_low_pct, summary.parasitemia_ci_high_pct,
        summary.slide_result, summary.detection_limit_pct, None, summary.rbc_counted, summary.slide_result_reason))
