"""Training run: data -> patient split -> cached crops -> tf.data -> Keras fit with checkpoints and resume.

Everything a run needs to be reproduced is written to the run folder: ``run_config.json`` (all options
and the command line), ``split.csv`` (+ sha256), ``history.csv``, ``last.keras`` (resume point, with
optimizer state), ``best.keras`` (best validation AUC) and ``state.json`` (epoch and early-stopping state).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.augment import AugmentConfig, augment_batch
from training.colour_transfer import ColourTransfer
from training.data import cached_crops, find_samples, read_patient_map
from training.model import ModelConfig, build_vgg16, copy_matching_weights, load_vgg16_weights
from training.native_size import NativeSize
from training.split import file_sha256, split_patients, write_split


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    patient_map: str | None = None
    unknown_group: str = "file"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_epochs: int = 1
    weight_decay: float = 1e-4
    patience: int = 6
    weights: str | None = None
    init: str | None = None
    keep_split: str | None = None
    max_minutes: float | None = None
    workers: int = 2
    colour_transfer: float = 0.0  # share of training cells re-rendered in a training lab's colours
    colour_transfer_parasitized: float | None = None  # the same for parasitized cells (None: colour_transfer)
    colour_spread: float = 0.0  # parasitized cells' targets mixed between/beyond labs (training.colour_transfer)
    native_size: float = 0.0  # share of cells resampled through a smaller native side (training.native_size)
    native_size_parasitized: float | None = None  # the same for parasitized cells (None: native_size)
    command: str = ""


def set_seed(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def lr_at(epoch: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to ``min_lr`` over the planned epochs (a pure function: resumable)."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / (cfg.warmup_epochs + 1)
    span = max(1, cfg.epochs - cfg.warmup_epochs)
    t = min(1.0, (epoch - cfg.warmup_epochs) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def train_dataset(images: np.ndarray, labels: np.ndarray, cfg: TrainConfig, roots: np.ndarray | None = None,
                  transfer: ColourTransfer | None = None, resample: NativeSize | None = None) -> tf.data.Dataset:
    """Shuffled, augmented, endlessly repeating batches; augmentation runs in parallel with training."""
    roots = np.zeros(len(images), np.int32) if roots is None else roots.astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.float32)[:, None], roots))
    ds = ds.shuffle(len(images), seed=cfg.seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(cfg.batch_size, drop_remainder=True).enumerate()
    seed, aug = cfg.seed, cfg.augment

    def prepare(step: tf.Tensor, batch: tuple) -> tuple:
        x, y, r = batch
        if transfer is not None:
            shape = x.shape
            x = tf.numpy_function(transfer, [x, r, step, y], tf.uint8, stateful=False)
            x.set_shape(shape)
        if resample is not None:
            shape = x.shape
            x = tf.numpy_function(resample, [x, step, y], tf.uint8, stateful=False)
            x.set_shape(shape)
        return augment_batch(x, step, seed, aug), y

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.float32)[:, None])).batch(batch_size)
    return ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def learning_rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class RunState(keras.callbacks.Callback):
    """Per-epoch checkpoint (last + best by val AUC), state file for --resume, early stopping, time cap."""

    def __init__(self, out: Path, patience: int, state: dict, deadline: float | None):
        super().__init__()
        self.out, self.patience, self.state, self.deadline = out, patience, state, deadline

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        auc, loss = float(logs.get("val_auc", 0.0)), float(logs.get("val_loss", math.inf))
        better = auc > self.state["best_auc"] + 1e-5 or (
            abs(auc - self.state["best_auc"]) <= 1e-5 and loss < self.state["best_loss"])
        if better:
            self.state.update(best_auc=auc, best_loss=loss, best_epoch=epoch + 1, wait=0)
            self.model.save(self.out / "best.keras")
        else:
            self.state["wait"] += 1
        self.model.save(self.out / "last.keras")
        self.state["epoch"] = epoch + 1
        (self.out / "state.json").write_text(json.dumps(self.state, indent=2))
        print(f"epoch {epoch + 1}: val_auc {auc:.4f} val_loss {loss:.4f} best {self.state['best_auc']:.4f} "
              f"@{self.state['best_epoch']} lr {learning_rate(self.model):.2e}",
              flush=True)
        if self.state["wait"] >= self.patience:
            print(f"early stop: no val AUC gain for {self.patience} epochs", flush=True)
            self.model.stop_training = True
        if self.deadline is not None and time.time() > self.deadline:
            print("time budget reached: stopping after this epoch", flush=True)
            self.model.stop_training = True


def load_run_data(cfg: TrainConfig, out: Path, split_csv: Path | None = None):
    """Samples, split names, crops and labels for a run (writes split.csv unless one is given)."""
    from training.split import read_split

    roots = [Path(d) for d in cfg.data]
    if split_csv is not None and split_csv.is_file():
        samples, names = read_split(split_csv)
        sha = file_sha256(split_csv)
    else:
        mapping = read_patient_map(Path(cfg.patient_map) if cfg.patient_map else None)
        samples = find_samples(roots, mapping, cfg.unknown_group)
        assignment = split_patients(samples, cfg.fractions, cfg.seed)
        if cfg.keep_split:  # fine-tuning: patients of an earlier split keep their split, new ones are dealt
            old_samples, old_names = read_split(Path(cfg.keep_split))
            kept = {s.patient: n for s, n in zip(old_samples, old_names, strict=False)}
            new = [s for s in samples if s.patient not in kept]
            assignment = kept | (split_patients(new, cfg.fractions, cfg.seed) if new else {})
        sha = write_split(out / "split.csv", samples, assignment)
        names = [assignment[s.patient] for s in samples]
    crops = cached_crops(samples, roots, cfg.model.input_size, out / "cache", cfg.workers)
    labels = np.array([s.label for s in samples], np.int32)
    return samples, np.array(names), crops, labels, sha


def compile_model(model: keras.Model, cfg: TrainConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.AdamW(cfg.lr, weight_decay=cfg.weight_decay),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="acc"), keras.metrics.AUC(name="auc", num_thresholds=1000)],
    )


def initial_model(cfg: TrainConfig) -> keras.Model:
    """The network a fresh run starts from: ``--init`` model (resized / batch norm -> GroupNorm), or new."""
    if not cfg.init:
        model = build_vgg16(cfg.model)
        if cfg.weights:
            load_vgg16_weights(model, cfg.model, cfg.weights)
        return model
    model = keras.models.load_model(Path(cfg.init) / "model.keras")
    if cfg.model.group_norm and not any(layer.name.endswith("_gn") for layer in model.layers):
        fresh = build_vgg16(cfg.model)  # batch norm -> GroupNorm: conv/dense weights and BN scale/offset
        print(f"--init: {copy_matching_weights(model, fresh)} layers copied into the GroupNorm network", flush=True)
        return fresh
    if model.input_shape[1] != cfg.model.input_size:
        # convolutions + global pooling do not depend on the input side: same weights, new size
        resized = build_vgg16(cfg.model)
        try:
            resized.set_weights(model.get_weights())
        except ValueError as exc:
            raise ValueError(f"--init model ({model.input_shape[1]} px) does not match the configured "
                             f"network apart from its input size: {exc}") from exc
        return resized
    return model


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Run (or resume) training; returns the run folder with ``best.keras``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "state.json"
    if resume and (out / "run_config.json").is_file():
        saved = json.loads((out / "run_config.json").read_text())
        cfg = config_from_dict(saved)
        cfg.command = saved.get("command", cfg.command)
    set_seed(cfg.seed)
    samples, names, crops, labels, sha = load_run_data(cfg, out, out / "split.csv" if resume else None)
    record = asdict(cfg) | {"split_sha256": sha, "command": cfg.command or shlex.join(sys.argv)}
    (out / "run_config.json").write_text(json.dumps(record, indent=2))
    tr, va = names == "train", names == "val"
    print(f"cells: train {tr.sum()} val {va.sum()} test {(names == 'test').sum()}; "
          f"patients: {len({s.patient for s, n in zip(samples, names, strict=False) if n == 'train'})} train",
          flush=True)

    state = {"epoch": 0, "best_auc": -1.0, "best_loss": math.inf, "best_epoch": 0, "wait": 0}
    if resume and state_path.is_file() and (out / "last.keras").is_file():
        state = json.loads(state_path.read_text())
        model = keras.models.load_model(out / "last.keras")
        print(f"resuming after epoch {state['epoch']}", flush=True)
    else:
        model = initial_model(cfg)
        compile_model(model, cfg)
    if state["epoch"] >= cfg.epochs or state["wait"] >= cfg.patience:
        print("run already finished", flush=True)
        return out
    steps = max(1, int(tr.sum()) // cfg.batch_size)
    deadline = time.time() + 60 * cfg.max_minutes if cfg.max_minutes else None
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch: lr_at(epoch, cfg)),
        RunState(out, cfg.patience, state, deadline),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    roots = np.array([s.root for s in samples], np.int32)
    transfer = ColourTransfer(crops[tr], labels[tr], roots[tr], cfg.colour_transfer, cfg.seed,
                              cfg.colour_transfer_parasitized, cfg.colour_spread) \
        if cfg.colour_transfer > 0 or cfg.colour_transfer_parasitized else None
    resample = NativeSize(cfg.native_size, cfg.seed, cfg.native_size_parasitized) \
        if cfg.native_size > 0 or cfg.native_size_parasitized else None
    model.fit(train_dataset(crops[tr], labels[tr], cfg, roots[tr], transfer, resample), steps_per_epoch=steps,
              epochs=cfg.epochs,
              initial_epoch=state["epoch"], validation_data=eval_dataset(crops[va], labels[va]),
              callbacks=callbacks, verbose=2)
    return out


def config_from_dict(data: dict) -> TrainConfig:
    """Rebuild a TrainConfig from ``run_config.json``."""
    known = {k: v for k, v in data.items() if k in TrainConfig.__dataclass_fields__}
    known["model"] = ModelConfig(**known.get("model", {}))
    known["augment"] = AugmentConfig(**known.get("augment", {}))
    known["fractions"] = tuple(known.get("fractions", (0.7, 0.15, 0.15)))
    return TrainConfig(**known)
