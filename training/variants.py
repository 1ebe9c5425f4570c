"""The speed/size trade-off behind the bundled model: input size x width x int8 quantisation.

    .venv/bin/python -m training.variants --out runs/variants.json [--run RUN --model trained_model]

For each candidate it builds the (untrained: speed does not depend on the weights) network, writes it as
ONNX and times ONNX Runtime on batches of 256 crops; ``--train-speed`` also times Keras training steps.
With ``--run/--model`` the trained model is also quantised to int8 (static, QDQ, per-channel, calibrated
on training crops) and both versions are measured on the run's test patients, so the accuracy cost of
quantisation is a measured number. Timings are noisy on a shared machine: compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

CANDIDATES = [(64, 1.0), (64, 0.25), (56, 0.25), (48, 0.25), (40, 0.25), (56, 0.1875), (48, 0.1875),
              (64, 0.125), (48, 0.125)]


def time_onnx(path: Path, size: int, batch: int = 256, repeats: int = 10) -> float:
    """Median cells/s of one ONNX Runtime session (all cores) on random batches."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    session.run(None, {"input": x})
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def time_training(model, size: int, batch: int = 64, steps: int = 6) -> float:
    """Keras training cells/s (forward + backward), after a warm-up step."""
    import keras

    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="binary_crossentropy")
    x = np.random.default_rng(0).random((batch * steps, size, size, 3), dtype=np.float32)
    y = (np.arange(batch * steps) % 2).astype(np.float32)[:, None]
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return batch * steps / (time.perf_counter() - start)


def quantize_int8(src: Path, dst: Path, calibration: np.ndarray) -> Path:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on float crops in [0, 1]."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": calibration[i:i + 64]} for i in range(0, len(calibration), 64)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return dst


def candidate_rows(train_speed: bool, repeats: int) -> list[dict]:
    from training.model import ModelConfig, build_vgg16, count_flops
    from training.onnx_export import save_onnx

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size, width in CANDIDATES:
            cfg = ModelConfig(input_size=size, width=width, batch_norm=width < 1.0)
            model = build_vgg16(cfg)
            path = save_onnx(model, Path(tmp) / f"{size}_{width}.onnx")
            calib = np.random.default_rng(1).random((128, size, size, 3), dtype=np.float32)
            q = quantize_int8(path, Path(tmp) / f"{size}_{width}_int8.onnx", calib)
            row = {"input_size": size, "width": width, "batch_norm": cfg.batch_norm,
                   "parameters": int(model.count_params()), "mflops_per_cell": count_flops(cfg) / 1e6,
                   "onnx_cells_per_s": time_onnx(path, size, repeats=2 if width == 1.0 else repeats),
                   "onnx_int8_cells_per_s": time_onnx(q, size, repeats=2 if width == 1.0 else repeats)}
            if train_speed:
                row["train_cells_per_s"] = time_training(model, size, steps=3 if width == 1.0 else 6)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def trained_rows(run: Path, model_dir: Path, repeats: int) -> list[dict]:
    """Float vs int8 of the trained model on the run's test patients, at the card's threshold."""
    import shutil

    from malaria_desktop.core.classification.classifier import Classifier
    from malaria_desktop.core.classification.model_card import load_model_card
    from training.metrics import binary_metrics
    from training.train import config_from_dict, load_run_data

    card = load_model_card(model_dir)
    cfg = config_from_dict(json.loads((run / "run_config.json").read_text()))
    _, names, crops, labels, _ = load_run_data(cfg, run, run / "split.csv")
    train, test = crops[names == "train"], names == "test"
    calib = train[np.random.default_rng(0).choice(len(train), min(512, len(train)),
                                                  replace=False)].astype(np.float32) / 255.0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        qdir = Path(tmp) / "int8"
        qdir.mkdir()
        shutil.copyfile(model_dir / "model_card.json", qdir / "model_card.json")
        quantize_int8(model_dir / "model.onnx", qdir / "model.onnx", calib)
        for label, folder in (("float32", model_dir), ("int8", qdir)):
            m = binary_metrics(labels[test], Classifier.load(folder).predict(crops[test]), card.threshold)
            row = {"model": label, "test_accuracy": m["accuracy"], "test_auc": m["roc_auc"],
                   "test_sensitivity": m["sensitivity"], "onnx_cells_per_s": time_onnx(folder / "model.onnx",
                                                                                      card.input_size, repeats=repeats),
                   "onnx_bytes": (folder / "model.onnx").stat().st_size}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the table")
    parser.add_argument("--run", type=Path, help="run folder of the trained model (for the int8 accuracy check)")
    parser.add_argument("--model", type=Path, help="trained model folder (model.onnx + card)")
    parser.add_argument("--train-speed", action="store_true", help="also time Keras training steps")
    parser.add_argument("--skip-candidates", action="store_true", help="only the trained float vs int8 check")
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per model")
    parser.add_argument("--card", type=Path, help="model folder whose model_card.json gets the table as 'tradeoff'")
    args = parser.parse_args()
    result: dict = {}
    if not args.skip_candidates:
        result["candidates"] = candidate_rows(args.train_speed, args.repeats)
    if args.run and args.model:
        result["trained"] = trained_rows(args.run, args.model, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if args.card:
        card_path = args.card / "model_card.json"
        card = json.loads(card_path.read_text())
        card["tradeoff"] = result | {"note": "ONNX Runtime cells/s at batch 256 on the 2-core build machine "
                                             "(shared, so indicative); untrained networks for the speed rows"}
        card_path.write_text(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
