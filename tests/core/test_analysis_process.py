"""Analysis in a separate process: the same events as in-process, cancel, errors, a dead worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from malaria_desktop.core.analysis_process import AnalysisProcess, AnalysisProcessError, inference_threads
from malaria_desktop.core.classification.classifier import Classifier
from malaria_desktop.core.pipeline import analyze_images
from malaria_desktop.core.results import ImageResult, Progress


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from malaria_desktop.core.synthetic import write_synthetic_smear

    folder = tmp_path_factory.mktemp("fields")
    paths = [folder / f"f{i}.png" for i in range(3)]
    for i, p in enumerate(paths):
        write_synthetic_smear(p, seed=20 + i, width=480, height=360, parasitized_fraction=0.2)
    (folder / "broken.png").write_bytes(b"not a png")
    return paths + [folder / "broken.png"]


@pytest.fixture(scope="module")
def worker():
    process = AnalysisProcess()
    yield process
    process.close()


def test_same_results_as_in_process_and_a_lower_priority(worker, fields, tiny_model_dir) -> None:
    import os

    worker.start(tiny_model_dir)  # the window's warm-up: the model is loaded before the first drop
    events = list(worker.analyze(fields, tiny_model_dir, threshold=0.5))
    results = [e for e in events if isinstance(e, ImageResult)]
    assert any(isinstance(e, Progress) for e in events)
    local = [e for e in analyze_images(fields, Classifier.load(tiny_model_dir), threshold=0.5)
             if isinstance(e, ImageResult)]
    assert [(r.path, r.status, r.n_cells, r.n_parasitized) for r in results] == \
        [(r.path, r.status, r.n_cells, r.n_parasitized) for r in local]
    assert results[-1].status == "error"  # a broken file is a result, not a crash of the worker
    assert [c.probability for c in results[0].cells] == pytest.approx([c.probability for c in local[0].cells],
                                                                      abs=1e-5)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + worker.niceness)
    assert worker.niceness > 0
    assert worker.threads == inference_threads() >= 1


def test_cancel_stops_the_run_and_the_next_run_works(worker, fields, tiny_model_dir) -> None:
    seen: list[object] = []
    run = worker.analyze(fields * 5, tiny_model_dir, should_cancel=lambda: len(seen) >= 2)
    for event in run:
        seen.append(event)
    assert len([e for e in seen if isinstance(e, ImageResult)]) < len(fields) * 5
    again = [e for e in worker.analyze(fields[:1], tiny_model_dir) if isinstance(e, ImageResult)]
    assert len(again) == 1 and again[0].status == "ok"  # nothing of the cancelled run leaks into this one


def test_a_run_superseded_before_it_began_never_cancels_its_successor(worker, fields, tiny_model_dir) -> None:
    """The window supersedes run A by run B (A's cancel flag set first); A's generator may begin only after
    B's did. A must then stop without a run number after B's, or stopping it cancelled B as well (the slide
    stayed queued for ever after a model switch under load)."""
    import threading

    superseded = threading.Event()
    old = worker.analyze(fields[:1], tiny_model_dir, should_cancel=superseded.is_set)
    superseded.set()  # what AnalysisRunner.start does before it starts the next run
    new = worker.analyze(fields, tiny_model_dir)
    first = next(new)  # B has its number and is running
    assert list(old) == []  # A begins late, sees its flag and stops without taking a number
    results = [e for e in [first, *new] if isinstance(e, ImageResult)]
    assert len(results) == len(fields)  # B analysed every field


def test_errors_are_relayed_and_a_dead_worker_is_replaced(worker, fields, tiny_model_dir, tmp_path) -> None:
    from malaria_desktop.core.errors import MalariaDesktopError

    with pytest.raises(MalariaDesktopError):  # no model there: the worker's message, no crash
        list(worker.analyze(fields[:1], tmp_path / "no_model"))
    run = worker.analyze(fields * 20, tiny_model_dir)
    next(run)
    pid = worker.pid
    worker._process.kill()
    with pytest.raises(AnalysisProcessError, match="stopped unexpectedly"):
        list(run)
    again = [e for e in worker.analyze(fields[:1], tiny_model_dir) if isinstance(e, ImageResult)]
    assert len(again) == 1 and worker.pid != pid


def test_the_worker_ends_when_the_window_process_is_killed(tmp_path, tiny_model_dir) -> None:
    """kill -9 of the app must not leave an analysis process behind (it polls its parent)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("from malaria_desktop.core.analysis_process import AnalysisProcess\n"
            "import sys, time\n"
            "if __name__ == '__main__':\n"
            "    p = AnalysisProcess(); p.start(sys.argv[1]); print(p.pid, flush=True); time.sleep(60)\n")
    script = tmp_path / "app.py"
    script.write_text(code)
    parent = subprocess.Popen([sys.executable, str(script), str(tiny_model_dir)], stdout=subprocess.PIPE, text=True)
    with parent.stdout:
        worker_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{worker_pid}/stat") as f:
            if f.read().split(") ", 1)[1].startswith("Z"):
                return  # exited, waiting for init to reap it
        time.sleep(0.2)
    pytest.fail(f"analysis process {worker_pid} outlived the killed window process")
