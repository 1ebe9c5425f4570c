"""Pipeline: inputs expansion, one result per file, bad files become error rows, cancel, bounded memory."""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pytest

import malaria_desktop.core.pipeline as pipeline
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.pipeline import analyze_image, analyze_images, expand_inputs, iter_results
from malaria_desktop.core.results import ImageResult, Progress
from malaria_desktop.core.synthetic import SyntheticSmear, generate_smear, write_synthetic_smear


@pytest.fixture(scope="module")
def classifier(tiny_model_dir: Path) -> Classifier:
    return Classifier.load(tiny_model_dir)


@pytest.fixture(scope="module")
def smear_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("smears")
    paths = []
    for seed in range(3):
        path = folder / f"field_{seed}.png"
        write_synthetic_smear(path, seed=seed, width=640, height=480, parasitized_fraction=0.2)
        paths.append(path)
    return paths


def _hits(smear: SyntheticSmear, result: ImageResult):
    """(true cell, the one detected cell whose mask holds its centre) for each matched true RBC."""
    for tc in smear.rbcs:
        cx, cy = int(tc.centroid[0]), int(tc.centroid[1])
        found = []
        for cr in result.cells:
            x, y, w, h = cr.cell.bbox
            if x <= cx < x + w and y <= cy < y + h and cr.cell.mask[cy - y, cx - x]:
                found.append(cr)
        if len(found) == 1:
            yield tc, found[0]


# ---------------------------------------------------------------- expand_inputs


def test_expand_inputs_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    for rel in ["b/2.png", "b/1.JPG", "a/deep/er/3.tif", "a/notes.txt", ".hidden/x.png", "b/.y.png", "c.bmp"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    odd = tmp_path / "a" / "notes.txt"
    got = expand_inputs([tmp_path, odd, tmp_path / "c.bmp", tmp_path / "missing.png"])
    rel = [p.relative_to(tmp_path).as_posix() if p.is_relative_to(tmp_path) else str(p) for p in got]
    assert rel == ["a/deep/er/3.tif", "b/1.JPG", "b/2.png", "c.bmp", "a/notes.txt", "missing.png"]
    assert expand_inputs([tmp_path]) == expand_inputs([str(tmp_path)])  # deterministic


# ---------------------------------------------------------------- analysis


def test_synthetic_smears_parasites_detected(classifier: Classifier) -> None:
    sens, fpr = [], []
    for seed in (11, 12):
        smear = generate_smear(seed=seed, width=800, height=600, parasitized_fraction=0.25)
        result = analyze_image(smear.image, classifier)
        assert result.status == "ok" and result.n_cells > 0.8 * len(smear.rbcs)
        pairs = list(_hits(smear, result))
        pos = [cr.label == "parasitized" for tc, cr in pairs if tc.parasitized]
        neg = [cr.label == "parasitized" for tc, cr in pairs if not tc.parasitized]
        assert pos and neg
        sens.append(np.mean(pos))
        fpr.append(np.mean(neg))
    assert np.mean(sens) >= 0.8, sens
    assert np.mean(fpr) <= 0.1, fpr


def test_threshold_override(classifier: Classifier) -> None:
    image = generate_smear(seed=5, width=640, height=480, parasitized_fraction=0.3).image
    default = analyze_image(image, classifier)
    strict = analyze_image(image, classifier, threshold=0.999999)
    assert strict.threshold == 0.999999 and default.threshold == classifier.threshold
    assert strict.n_parasitized < default.n_parasitized
    assert [c.probability for c in strict.cells] == [c.probability for c in default.cells]


def test_event_stream_one_result_per_file_in_order(classifier: Classifier, smear_files: list[Path]) -> None:
    events = list(analyze_images(smear_files, classifier, batch_size=32))
    results = [e for e in events if isinstance(e, ImageResult)]
    assert [r.path for r in results] == smear_files
    assert all(r.status == "ok" and r.n_cells > 10 for r in results)
    first = [e for e in events if isinstance(e, Progress) and e.image_index == 0]
    stages = [e.stage for e in first]
    assert stages[:2] == ["loading", "segmenting"] and stages[-1] == "done"
    batches = [e for e in first if e.stage == "classifying"]
    assert [b.cells_done for b in batches] == list(range(0, results[0].n_cells, 32))
    assert all(e.n_images == 3 for e in events if isinstance(e, Progress))
    done = [e for e in events if isinstance(e, Progress) and e.stage == "done"]
    assert done[-1].cells_counted == sum(r.n_cells for r in results)


def test_bad_file_becomes_error_row_and_run_continues(classifier: Classifier, smear_files: list[Path],
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("this is a text file, not an image")
    missing = tmp_path / "gone.png"
    results = list(iter_results(analyze_images([smear_files[0], bad, missing, smear_files[1]], classifier)))
    assert [r.status for r in results] == ["ok", "error", "error", "ok"]
    assert results[1].error and results[2].error
    assert "Traceback" not in results[1].error


def test_unexpected_exception_becomes_error_with_type(
    classifier: Classifier, smear_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.segment_cells
    calls = []

    def flaky(image, options=None):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("boom")
        return real(image, options)

    monkeypatch.setattr(pipeline, "segment_cells", flaky)
    results = list(iter_results(analyze_images(smear_files[:2], classifier)))
    assert results[0].status == "error" and "ZeroDivisionError" in results[0].error and "boom" in results[0].error
    assert results[1].status == "ok"


def test_cancel_between_images(classifier: Classifier, smear_files: list[Path]) -> None:
    seen: list[ImageResult] = []
    gen = analyze_images(smear_files, classifier, should_cancel=lambda: len(seen) >= 1)
    with pytest.raises(StopIteration) as stop:
        while True:
            event = next(gen)
            if isinstance(event, ImageResult):
                seen.append(event)
    assert stop.value.value is True  # the generator reports it was cancelled
    assert [r.path for r in seen] == smear_files[:1]


def test_cancel_between_batches_drops_partial_image(classifier: Classifier, smear_files: list[Path]) -> None:
    batches: list[Progress] = []
    events = []
    gen = analyze_images(smear_files, classifier, batch_size=8, should_cancel=lambda: len(batches) >= 2)
    for event in gen:
        events.append(event)
        if isinstance(event, Progress) and event.stage == "classifying":
            batches.append(event)
    assert not any(isinstance(e, ImageResult) for e in events)
    assert [b.cells_done for b in batches] == [0, 8]


def test_not_cancelled_returns_false(classifier: Classifier, smear_files: list[Path]) -> None:
    gen = analyze_images(smear_files[:1], classifier)
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    assert stop.value.value is False


def test_one_image_in_memory_at_a_time(
    classifier: Classifier, smear_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When image k is loaded, every earlier image array has already been released."""
    real = pipeline.load_image
    alive: list[weakref.ref] = []
    leaks: list[int] = []

    def spy(path):
        leaks.append(sum(ref() is not None for ref in alive))
        image = real(path)
        alive.append(weakref.ref(image))
        return image

    monkeypatch.setattr(pipeline, "load_image", spy)
    gen = analyze_images(smear_files * 2, classifier)
    results = list(iter_results(gen))  # results are kept; images must not be
    assert len(results) == 6 and leaks == [0] * 6
    for r in results:  # cell masks are small, bbox-local arrays, not views into a whole field
        for cr in r.cells[:5]:
            assert cr.cell.mask.shape == (cr.cell.bbox[3], cr.cell.bbox[2])
            base = cr.cell.mask.base
            assert base is None or base.size <= 4 * cr.cell.mask.size


def test_content_hash_recorded_at_analysis(classifier: Classifier, smear_files: list[Path]) -> None:
    """Issue 13 item 8: each result carries the SHA-256 of the file it was computed from."""
    import hashlib

    result = next(iter_results(analyze_images(smear_files[:1], classifier)))
    assert result.content_sha256 == hashlib.sha256(smear_files[0].read_bytes()).hexdigest()


def test_unreadable_sub_folder_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 13: a folder that cannot be listed is reported, not skipped silently."""
    import os

    (tmp_path / "ok").mkdir()
    write_synthetic_smear(tmp_path / "ok" / "a.png", seed=1, width=160, height=120)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path=".", *args, **kwargs):  # root ignores chmod 000, so refuse the listing here
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    problems: list[tuple[Path, str]] = []
    assert expand_inputs([tmp_path], problems) == [tmp_path / "ok" / "a.png"]
    assert problems == [(locked, "Permission denied")]
