"""Package a trained run as the app's model folder: model.onnx + model_card.json (+ model.keras).

The decision threshold is chosen here on the VALIDATION patients (never test) with the exact ONNX model
the app runs, loaded through the app's own ``Classifier``; test metrics are added later by ``evaluate``.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
from importlib import metadata
from pathlib import Path

import keras
import numpy as np

from malaria_desktop.core.classification.model_card import CARD_FILE, FORMAT_VERSION, NEGATIVE_CLASS, POSITIVE_CLASS
from training.metrics import binary_metrics, choose_threshold
from training.model import ModelConfig, build_vgg16, count_flops
from training.onnx_export import save_onnx
from training.operating_point import cell_groups, slide_threshold, transfer_threshold, uncertain_band

KERAS_MAX_BYTES = 20_000_000
PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "onnx", "onnxruntime", "opencv-python-headless")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def inference_model(checkpoint: Path, config: ModelConfig) -> keras.Model:
    """The trained weights in a fresh, uncompiled model (no optimizer state: small file, clean export)."""
    trained = keras.models.load_model(checkpoint, compile=False)
    model = build_vgg16(config)
    model.set_weights(trained.get_weights())
    return model


def _norm_text(config: ModelConfig) -> str:
    if config.group_norm:
        return f", GroupNorm ({config.group_norm} groups)"
    return ", batch norm" if config.batch_norm else ""


def split_summary(run: Path) -> dict:
    """Patients and cells (by class) per split, from the run's split.csv."""
    from training.split import read_split

    samples, names = read_split(run / "split.csv")
    out: dict[str, dict] = {}
    for s, name in zip(samples, names, strict=False):
        d = out.setdefault(name, {"patients": set(), "cells": 0, "parasitized": 0, "uninfected": 0})
        d["patients"].add(s.patient)
        d["cells"] += 1
        d["parasitized" if s.label else "uninfected"] += 1
    return {k: v | {"patients": len(v["patients"])} for k, v in out.items()}


def split_probs(run: Path, model_dir: Path, split_name: str):
    """(labels, P(parasitized), patients) of one split, predicted by the app's Classifier on ``model_dir``."""
    from malaria_desktop.core.classification.classifier import Classifier
    from training.train import config_from_dict, load_run_data

    cfg = config_from_dict(json.loads((run / "run_config.json").read_text()))
    samples, names, crops, labels, _ = load_run_data(cfg, run, run / "split.csv")
    sel = names == split_name
    probs = Classifier.load(model_dir).predict(crops[sel])
    return labels[sel], probs, [s.patient for s, keep in zip(samples, sel, strict=False) if keep]


DATA_SOURCES = {  # what a model card says about each data set it learned from (licence, lab)
    "nih_cells": "NIH/NLM malaria cell images (Rajaraman et al. 2018), Chittagong, P. falciparum; public, "
                 "U.S. National Library of Medicine",
    "chula": "Chula RBC-12 (Chulalongkorn University), healthy thin smears, cells cut by the app's segmentation; MIT",
    "bccd": "BCCD (Blood Cell Count and Detection, shenggan 2017), healthy smears, cells cut by the app's "
            "segmentation; MIT",
    "mpidb": "MP-IDB P. falciparum infected-cell crops (CHUV Lausanne; Loddo, Fadda, Di Ruberto 2021), "
             "parasitized only, split by slide; MIT",
}


def describe_data(folders: list[str]) -> list[dict[str, str]]:
    """Each training folder as written in the run (relative paths) with its source and licence."""
    out = []
    for folder in folders or []:
        key = next((k for k in DATA_SOURCES if k in Path(folder).as_posix()), None)
        out.append({"folder": Path(folder).as_posix(), "source": DATA_SOURCES.get(key, "local reviewed cells")})
    return out


def export_model(run: Path, out: Path, checkpoint: str = "best.keras", min_sensitivity: float = 0.97,
                 keep_keras: bool = True, rule: str = "slide") -> Path:
    """Write ``out/`` from ``run/checkpoint``; returns the card path.

    rule: "slide" (default) = the healthy-slide operating point of ``training.operating_point``;
    "transfer" = the slide rule lowered until foreign labs' validation parasites are found
    (``operating_point.transfer_threshold``, ``training.foreign_proxy``);
    "sensitivity" = the old cell rule (best accuracy with sensitivity >= ``min_sensitivity``).
    """
    run, out = Path(run), Path(out)
    run_cfg = json.loads((run / "run_config.json").read_text())
    config = ModelConfig(**run_cfg["model"])
    model = inference_model(run / checkpoint, config)
    out.mkdir(parents=True, exist_ok=True)
    save_onnx(model, out / "model.onnx")
    state = json.loads((run / "state.json").read_text()) if (run / "state.json").is_file() else {}
    card = {
        "format_version": FORMAT_VERSION,
        "name": config.name(),
        "architecture": (f"VGG16 configuration D (13 3x3 convs in 5 blocks [2,2,3,3,3] with max-pooling), "
                         f"channel width x{config.width:g}{_norm_text(config)}, "
                         f"global average pool + dense {config.head_units} + sigmoid; {config.input_size} px RGB"),
        "input_size": config.input_size,
        "preprocessing": {"crop": "malaria_desktop.core.classification.crops.crop_cell", "scale": 1.0 / 255.0,
                          "channel_order": "RGB", "layout": "NHWC", "dtype": "float32"},
        "output": {"kind": "sigmoid"},
        "class_names": [NEGATIVE_CLASS, POSITIVE_CLASS],
        "threshold": 0.5,
        "onnx_file": "model.onnx",
        "model": config.to_dict() | {"parameters": int(model.count_params()), "flops_per_cell": count_flops(config)},
        "training": {
            "command": run_cfg.get("command"), "seed": run_cfg.get("seed"),
            "data": describe_data(run_cfg.get("data")),
            "split_fractions": run_cfg.get("fractions"), "split_sha256": run_cfg.get("split_sha256"),
            "split_file": "split.csv", "splits": split_summary(run),
            "epochs_run": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "best_val_auc_keras": state.get("best_auc"), "checkpoint": checkpoint,
            "hyperparameters": {k: run_cfg.get(k) for k in ("epochs", "batch_size", "lr", "min_lr", "warmup_epochs",
                                                            "weight_decay", "patience", "augment", "weights", "init",
                                                            "colour_transfer")},
        },
        "versions": package_versions(),
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    card_path = out / CARD_FILE
    card_path.write_text(json.dumps(card, indent=2))
    shutil.copyfile(run / "split.csv", out / "split.csv")
    labels, probs, patients = split_probs(run, out, "val")
    if rule == "slide":
        threshold, rule_text, shares = slide_threshold(labels, probs, patients)
        card["validation_healthy_called_parasitized"] = shares
    elif rule == "transfer":
        from training.foreign_proxy import foreign_positive_probs

        foreign = foreign_positive_probs(run, out, labels, probs, patients)
        threshold, rule_text, shares, found = transfer_threshold(labels, probs, patients, foreign)
        card["validation_healthy_called_parasitized"] = shares
        card["validation_foreign_parasitized_found"] = found
    else:
        threshold, rule_text = choose_threshold(labels, probs, min_sensitivity)
    card["threshold"] = threshold
    card["threshold_rule"] = rule_text
    card["uncertain_band"] = uncertain_band(labels, probs, threshold)
    try:
        card["reference"] = run_reference(run, out, (card["uncertain_band"]["low"], card["uncertain_band"]["high"]))
    except ValueError as exc:  # too few fields per lab (tiny data sets): the app then uses its built-in defaults
        print(f"no training-lab reference in the card: {exc}", flush=True)
    groups = cell_groups(patients)
    card["metrics"] = {"validation": binary_metrics(labels, probs, threshold)}
    if (groups == "nih").any() and not (groups == "nih").all():
        nih = groups == "nih"
        card["metrics"]["validation_nih"] = binary_metrics(labels[nih], probs[nih], threshold)
    card_path.write_text(json.dumps(card, indent=2))
    keras_path = out / "model.keras"
    if keep_keras:
        model.save(keras_path)
        if keras_path.stat().st_size > KERAS_MAX_BYTES:
            keras_path.unlink()
            print(f"model.keras is over {KERAS_MAX_BYTES} bytes: not kept (fine-tune from the run folder instead)")
    print(f"exported {out}: threshold {threshold:.4f} ({rule_text}); validation accuracy "
          f"{card['metrics']['validation']['accuracy']:.4f} AUC {card['metrics']['validation']['roc_auc']:.4f}",
          flush=True)
    return card_path


def run_reference(run: Path, model_dir: Path, band: tuple[float, float]) -> dict:
    """The card's ``reference`` (what the training labs' fields look like) for the app's "unlike" warning."""
    from training.reference_stats import reference_for_run
    from training.train import config_from_dict, load_run_data

    cfg = config_from_dict(json.loads((run / "run_config.json").read_text()))
    samples, names, crops, labels, _ = load_run_data(cfg, run, run / "split.csv")
    return reference_for_run(samples, names, crops, labels, cfg.data, model_dir, band)


def onnx_keras_max_diff(model_dir: Path, crops: np.ndarray) -> float:
    """Largest |ONNX - Keras| probability on ``crops`` (uint8) — the export's agreement check."""
    from malaria_desktop.core.classification.classifier import Classifier

    keras_model = keras.models.load_model(Path(model_dir) / "model.keras", compile=False)
    ref = keras_model.predict(crops.astype(np.float32) / 255.0, verbose=0)[:, 0]
    got = Classifier.load(model_dir).predict(crops)
    return float(np.abs(ref - got).max())
