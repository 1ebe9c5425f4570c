"""Fine-tuning steps and the figures that judge them (sensitivity, specificity, AUC, threshold choice).

``Trainer.fit`` is a generator: each yield reports the step and is a cancel point, so the calibration
generator can relay it to the CLI's progress bar or the GUI worker. Gradients come from ONNX Runtime
(``graph``); the update is Adam with an L2 pull towards the base weights (L2-SP, Li et al.
2018) and the targets are softened towards the base model's own outputs (learning without forgetting,
Li & Hoiem 2016), so a few hundred cells move the model to a lab's colours without unlearning the rest.
Everything random comes from one seeded generator: the same cells give the same model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import onnx

from malaria_desktop.core.calibration.graph import gradient_model
from malaria_desktop.core.calibration.net import Adam, Net


@dataclass(frozen=True)
class FitOptions:
    """How one fine-tuning run goes; defaults are the ones docs/benchmarks/calibrate.md measured."""

    epochs: int = 6
    min_steps: int = 120  # small sets still get enough updates to move the first layers
    batch_size: int = 32
    learning_rate: float = 5e-4
    pull: float = 1e-2  # L2-SP strength towards the base weights
    distill: float = 0.1  # weight of the base model's output in the soft target
    replay_per_batch: int = 8  # replay cells added to each batch when a replay set is given
    replay_weight: float = 0.2  # their share of each batch's loss
    seed: int = 0


@dataclass(frozen=True)
class Figures:
    """Cell-level figures at one threshold."""

    threshold: float
    sensitivity: float
    specificity: float
    auc: float

    @property
    def balanced_accuracy(self) -> float:
        return (self.sensitivity + self.specificity) / 2

    def as_dict(self) -> dict[str, float]:
        return {"threshold": round(self.threshold, 6), "sensitivity": round(self.sensitivity, 4),
                "specificity": round(self.specificity, 4), "auc": round(self.auc, 4),
                "balanced_accuracy": round(self.balanced_accuracy, 4)}


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined,unused-ignore]  # Linux only
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def ort_session(model: onnx.ModelProto, threads: int | None = None):
    """A CPU ONNX Runtime session for an in-memory model, configured like the app's classifier."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])


def augment(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random one of the 8 rotations/mirrors per crop: a cell has no up or left on a slide."""
    out = np.empty_like(crops)
    turns = rng.integers(0, 4, len(crops))
    flips = rng.integers(0, 2, len(crops))
    for i, crop in enumerate(crops):
        c = np.rot90(crop, int(turns[i]))
        out[i] = c[:, ::-1] if flips[i] else c
    return out


class Trainer:
    """Fine-tunes copies of one base graph; ``predict`` runs any parameter set through ONNX Runtime."""

    def __init__(self, base: onnx.ModelProto, scale: float, threads: int | None = None):
        self.base = base
        self.scale = np.float32(scale)
        self.threads = threads
        self._grad = ort_session(gradient_model(Net(base)), threads)

    def fit(
        self, crops: np.ndarray, labels: np.ndarray, base_probs: np.ndarray, options: FitOptions,
        should_cancel: Callable[[], bool] = lambda: False,
        replay: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Generator[tuple[int, int], None, Net | None]:
        """Yield ``(step, total)``; return the fine-tuned ``Net`` (None when cancelled).

        ``replay``: (crops, soft targets) of the base model's own training data, mixed into every batch
        so the base behaviour there is kept (optional; see ``calibration.load_replay``).
        """
        net = Net(self.base)
        rng = np.random.default_rng(options.seed)
        n = len(labels)
        per_epoch = math.ceil(n / options.batch_size)
        total = max(options.min_steps, options.epochs * per_epoch)
        opt = Adam(net.params, net.trainable, options.learning_rate, options.pull)
        targets = ((1 - options.distill) * labels + options.distill * base_probs).astype(np.float32)
        n_pos = max(int(labels.sum()), 1)
        cell_weight = np.where(labels == 1, 0.5 / n_pos, 0.5 / max(n - n_pos, 1)).astype(np.float32)
        order = np.empty(0, np.int64)
        for step in range(total):
            if should_cancel():
                return None
            if len(order) < options.batch_size:
                order = np.concatenate([order, rng.permutation(n)])
            idx, order = order[: options.batch_size], order[options.batch_size:]
            x, t = crops[idx], targets[idx]
            w = cell_weight[idx] / cell_weight[idx].sum()
            if replay is not None and options.replay_per_batch > 0:
                ridx = rng.integers(0, len(replay[1]), options.replay_per_batch)
                x, t = np.concatenate([x, replay[0][ridx]]), np.concatenate([t, replay[1][ridx]])
                rw = np.full(len(ridx), options.replay_weight / len(ridx), np.float32)
                w = np.concatenate([w * (1 - options.replay_weight), rw])
            x = augment(x, rng).astype(np.float32) * self.scale
            opt.lr = options.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total))  # cosine decay
            feeds = {"input": x, "target": t.astype(np.float32), "weight": w.astype(np.float32)}
            feeds.update({name: net.params[name] for name in net.trainable})
            outs = self._grad.run([f"grad:{name}" for name in net.trainable], feeds)
            opt.step(dict(zip(net.trainable, outs, strict=False)))
            if step % 5 == 0 or step == total - 1:
                yield step + 1, total
        return net

    def predict(self, model: onnx.ModelProto, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """P(parasitized) for uint8 crops with the given (sigmoid) model."""
        session = ort_session(model, self.threads)
        name = session.get_inputs()[0].name
        out = np.empty(len(crops), np.float32)
        for start in range(0, len(crops), batch_size):
            batch = crops[start:start + batch_size].astype(np.float32) * self.scale
            out[start:start + len(batch)] = np.asarray(session.run(None, {name: batch})[0]).reshape(-1)
        return out


# ---------------------------------------------------------------- figures


def auc(probs: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    pos, neg = probs[labels == 1], probs[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order), np.float64)
    values = np.concatenate([pos, neg])[order]
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def figures_at(probs: np.ndarray, labels: np.ndarray, threshold: float) -> Figures:
    called = probs >= threshold
    pos, neg = labels == 1, labels == 0
    sens = float(called[pos].mean()) if pos.any() else float("nan")
    spec = float((~called[neg]).mean()) if neg.any() else float("nan")
    return Figures(float(threshold), sens, spec, auc(probs, labels))


def choose_threshold(probs: np.ndarray, labels: np.ndarray, min_sensitivity: float) -> float:
    """The threshold with the best specificity (then sensitivity) whose sensitivity is >= ``min_sensitivity``.

    Placed halfway between the chosen cell's probability and the next lower one, so it does not sit on
    a cell; clipped into (0.001, 0.999) as the model card requires.
    """
    values = np.unique(probs)[::-1]  # descending candidate thresholds
    pos = np.sort(probs[labels == 1])
    neg = np.sort(probs[labels == 0])
    sens = (len(pos) - np.searchsorted(pos, values, side="left")) / max(len(pos), 1)
    spec = np.searchsorted(neg, values, side="left") / max(len(neg), 1)
    ok = np.flatnonzero(sens >= min_sensitivity)
    i = int(ok[np.lexsort((sens[ok], spec[ok]))[-1]]) if len(ok) else len(values) - 1
    lower = float(values[i + 1]) if i + 1 < len(values) else 0.0
    return float(min(max((float(values[i]) + lower) / 2, 1e-3), 0.999))
