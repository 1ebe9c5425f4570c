"""``analyze --engine ray``: the images sharded over a Ray cluster, one ONNX Runtime session per worker.

Why actors, not plain tasks: loading the model (ONNX Runtime session) costs about a second; an actor loads
it once and then analyses image after image. Each actor reserves ``cpus_per_worker`` CPUs and sizes its
ONNX Runtime and OpenCV thread pools to exactly that, so workers on one node do not fight for cores.

Nothing is lost when a worker dies: actors are created with ``max_restarts`` and ``max_task_retries``, so
Ray restarts a killed worker (it reloads the model) and re-runs the images it held. An image whose worker
dies more often than that (e.g. a file that crashes the decoder every time) becomes an error row and the
run goes on. Results are yielded in input order, so ``cells.csv`` is byte-identical to the local engine's;
a bounded window of images in flight keeps memory flat on long archives.

The model travels through Ray's object store (its bytes, put once), so workers on other machines need
the package installed but not the model folder. Telemetry is off (``RAY_USAGE_STATS_ENABLED=0``).
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malaria_desktop.cluster.sources import Source, analyze_source, result_path

if TYPE_CHECKING:
    from malaria_desktop.core.pipeline import Event
    from malaria_desktop.core.results import ImageResult

LOCAL_CPUS = 2  # a local cluster (no --address) reserves this many CPUs


def start_ray(address: str | None = None, num_cpus: int = LOCAL_CPUS) -> Any:
    """Connect to the cluster at ``address`` or start a local one; returns the ``ray`` module."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before Ray is imported: no usage report leaves the machine
    import ray

    if not ray.is_initialized():
        joining = bool(address or os.environ.get("RAY_ADDRESS"))  # an existing cluster has its own CPU count
        ray.init(address=address, num_cpus=None if joining else num_cpus, include_dashboard=False,
                 configure_logging=False, log_to_driver=False)
    return ray


class ImageWorker:
    """One Ray actor: a model session sized to the actor's CPUs, analysing one image per call."""

    def __init__(self, model: list[Any], threads: int, threshold: float | None, batch_size: int, cwd: str) -> None:
        import cv2
        import ray

        from malaria_desktop.core.classification.classifier import Classifier

        if os.path.isdir(cwd):  # relative local paths mean what they mean to the user (shared file systems)
            os.chdir(cwd)
        cv2.setNumThreads(threads)
        self._model_dir = tempfile.mkdtemp(prefix="malaria-model-")
        for name, data in ray.get(model[0]).items():  # the model's bytes, put once by the driver
            (Path(self._model_dir) / name).write_bytes(data)
        self.classifier = Classifier.load(self._model_dir, threads=threads)
        self.threshold, self.batch_size = threshold, batch_size

    def analyze(self, index: int, source: Source) -> tuple[int, "ImageResult"]:
        return index, analyze_source(source, self.classifier, threshold=self.threshold, batch_size=self.batch_size)

    def pid(self) -> int:
        return os.getpid()


def model_files(model_dir: Path) -> dict[str, bytes]:
    """The files a worker needs to load the model: the card and the ONNX graph it names."""
    from malaria_desktop.core.classification.model_card import load_model_card

    card = load_model_card(model_dir)
    return {name: (model_dir / name).read_bytes() for name in ("model_card.json", card.onnx_file)}


class RayEngine:
    """``workers`` actors of ``cpus_per_worker`` CPUs each; ``events`` is the pipeline's event stream."""

    def __init__(self, model_dir: Path, *, threshold: float | None, batch_size: int, workers: int | None = None,
                 cpus_per_worker: int = 1, address: str | None = None, max_restarts: int = 3) -> None:
        self.ray = start_ray(address)
        total = int(self.ray.cluster_resources().get("CPU", 1))
        self.n_workers = max(1, workers or total // cpus_per_worker)
        self.max_restarts = max_restarts
        self._remote = self.ray.remote(ImageWorker).options(
            num_cpus=cpus_per_worker, max_restarts=max_restarts, max_task_retries=max_restarts)
        self._files = [self.ray.put(model_files(model_dir))]  # in a list: fetched by the worker, kept by us
        self._args = (cpus_per_worker, threshold, batch_size, os.getcwd())
        self.actors = [self._remote.remote(self._files, *self._args) for _ in range(self.n_workers)]

    def events(self, sources: Sequence[Source], window: int | None = None) -> Iterator["Event"]:
        """Progress as each image finishes; results in input order; a bounded number of images in flight."""
        from malaria_desktop.core.results import Progress

        window = window or 2 * self.n_workers
        todo = deque(enumerate(sources))
        pending: dict[Any, tuple[int, Any]] = {}  # object ref -> (image index, actor)
        done: dict[int, ImageResult] = {}
        attempts: dict[int, int] = {}
        next_out = counted = finished = 0
        idle = deque(a for a in self.actors for _ in range(2))  # two calls queued per actor keep it busy
        while next_out < len(sources):
            while todo and idle and todo[0][0] < next_out + window:
                index, source = todo.popleft()
                actor = idle.popleft()
                if actor in self.actors:  # not one replaced after it died
                    pending[actor.analyze.remote(index, source)] = (index, actor)
                else:
                    todo.appendleft((index, source))
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            index, actor = pending.pop(ready[0])
            result = self._result(ready[0], sources[index])
            if result is None:  # the worker died more often than Ray restarts it: a fresh worker, one more try
                idle.extend(self._replace(actor))
                attempts[index] = attempts.get(index, 0) + 1
                if attempts[index] < 2:
                    todo.appendleft((index, sources[index]))
                    continue
                result = self._died(sources[index])
            else:
                idle.append(actor)
            done[index] = result
            finished += 1
            yield Progress(finished - 1, len(sources), result.path, "done", cells_counted=counted)
            while next_out in done:
                result = done.pop(next_out)
                counted += result.n_cells
                next_out += 1
                yield result

    def _result(self, ref: Any, source: Source) -> "ImageResult | None":
        """The worker's result; None when its worker died more often than Ray restarts it."""
        from malaria_desktop.core.results import ImageResult

        try:
            return self.ray.get(ref)[1]
        except self.ray.exceptions.RayActorError:
            return None
        except self.ray.exceptions.RayTaskError as exc:  # not expected (the pipeline reports per image), but
            return ImageResult(path=result_path(source), status="error",  # one image never stops the run
                               error=f"Unexpected error while analysing this image ({exc.cause!r:.300}).")

    def _replace(self, dead: Any) -> list[Any]:
        """A new actor in place of one Ray gave up on (or [] when it was already replaced)."""
        if dead not in self.actors:
            return []
        fresh = self._remote.remote(self._files, *self._args)
        self.actors[self.actors.index(dead)] = fresh
        return [fresh, fresh]

    def _died(self, source: Source) -> "ImageResult":
        from malaria_desktop.core.results import ImageResult

        return ImageResult(path=result_path(source), status="error",
                           error="the worker analysing this image stopped every time it was tried "
                                 f"({2 * (self.max_restarts + 1)} times); the file may crash the image decoder")

    def close(self) -> None:
        """Stop the workers (best effort: they end with the job anyway, and a lost cluster cannot be asked)."""
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # Ray raises its own types for a cluster that is gone
                pass
        self.actors = []


__all__ = ["ImageWorker", "RayEngine", "start_ray"]
