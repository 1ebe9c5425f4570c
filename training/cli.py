"""``python -m training train|export|evaluate`` — train, package and measure the cell classifier."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any

DEFAULT_DATA = "../shared/data/nih_cells/cell_images"


def _fractions(text: str) -> tuple[float, float, float]:
    parts = tuple(float(p) for p in text.split(","))
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("give three comma-separated fractions, e.g. 0.7,0.15,0.15")
    return parts  # type: ignore[return-value]


def _defaults(cls: type) -> dict[str, Any]:
    """A config dataclass's field defaults: the one place they are written (no second copy here)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, export and evaluate the Malaria Desktop VGG16 cell classifier (Keras, CPU).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_export(sub)
    _add_evaluate(sub)
    return parser


def _add_train(sub: Any) -> None:
    from training.model import ModelConfig
    from training.train import TrainConfig

    m, c = _defaults(ModelConfig), _defaults(TrainConfig)
    t = sub.add_parser("train", help="train a model into a run folder (then optionally export + evaluate)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--data", nargs="+", default=[DEFAULT_DATA],
                   help="folders in the NIH layout (Parasitized/ and Uninfected/ at any depth); the first is "
                        "the public set, later ones e.g. reviewed cells exported by the app")
    t.add_argument("--out", required=True, help="run folder: split.csv, crop cache, checkpoints, logs")
    t.add_argument("--patient-map", help="CSV with columns file,patient for files whose name has no C<digits> id")
    t.add_argument("--unknown-group", choices=["file", "folder"], default=c["unknown_group"],
                   help="group for files without a patient id: each file alone, or one group per folder")
    t.add_argument("--split", type=_fractions, default=c["fractions"],
                   help="train,val,test fractions of cells, split by patient")
    t.add_argument("--seed", type=int, default=c["seed"],
                   help="seed for split, initialisation, shuffling, augmentation")
    t.add_argument("--input-size", type=int, default=m["input_size"],
                   help="square crop side in pixels fed to the network")
    t.add_argument("--width", type=float, default=m["width"], help="channel-width multiplier of VGG16 (1.0 = original)")
    t.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=m["batch_norm"],
                   help="batch normalisation after every conv (must be off for ImageNet weights)")
    t.add_argument("--group-norm", type=int, default=m["group_norm"],
                   help="GroupNorm with this many groups instead of batch norm (0 = off); with --init from a "
                        "batch-norm model its convs and BN scale/offset are the start point")
    t.add_argument("--dropout", type=float, default=m["dropout"], help="dropout rate in the classification head")
    t.add_argument("--head-units", type=int, default=m["head_units"],
                   help="units of the hidden dense layer of the head (0 = none)")
    t.add_argument("--epochs", type=int, default=c["epochs"], help="maximum epochs (the cosine LR schedule spans them)")
    t.add_argument("--batch-size", type=int, default=c["batch_size"], help="training batch size")
    t.add_argument("--lr", type=float, default=c["lr"], help="peak learning rate (AdamW)")
    t.add_argument("--min-lr", type=float, default=c["min_lr"], help="final learning rate of the cosine schedule")
    t.add_argument("--warmup-epochs", type=int, default=c["warmup_epochs"],
                   help="epochs of linear learning-rate warm-up")
    t.add_argument("--weight-decay", type=float, default=c["weight_decay"], help="AdamW weight decay")
    t.add_argument("--patience", type=int, default=c["patience"],
                   help="early stopping: epochs without a validation-AUC gain")
    t.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this wall-clock budget")
    t.add_argument("--weights", help="'imagenet' (Keras' cached file, never downloaded) or a VGG16 notop weights "
                                    "file; needs --width 1.0 --no-batch-norm")
    t.add_argument("--init", help="model folder with model.keras to continue from (fine-tuning on new cells)")
    t.add_argument("--keep-split", metavar="CSV",
                   help="split.csv of an earlier run/model (e.g. trained_model/split.csv): its patients keep their "
                        "split so fine-tuning never trains on old test patients; new patients are split as usual")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out from last.keras")
    _add_train_augment(t, c)


def _add_train_augment(t: argparse.ArgumentParser, c: dict[str, Any]) -> None:
    """The augmentation options of ``train`` (presets, stain transfer, native size)."""
    t.add_argument("--augment", choices=["basic", "cross-lab"], default="basic",
                   help="augmentation preset: 'cross-lab' adds saturation/grey, dye intensity, low resolution, "
                        "blur and noise (training/augment.py)")
    t.add_argument("--colour-transfer", type=float, default=c["colour_transfer"],
                   help="share of training cells re-rendered in the colours of a training lab's healthy cells "
                        "(each --data folder is a lab; training/colour_transfer.py)")
    t.add_argument("--colour-transfer-parasitized", type=float,
                   help="the same share for parasitized cells (default: --colour-transfer)")
    t.add_argument("--colour-spread", type=float, default=c["colour_spread"],
                   help="parasitized cells re-rendered into stains between and beyond the training labs' "
                        "(target a + u(b - a), u in [-spread, 1 + spread])")
    t.add_argument("--native-size", type=float, default=c["native_size"],
                   help="share of cells resampled one by one through a smaller native side (other labs' cells "
                        "are 40-80 px; training/native_size.py)")
    t.add_argument("--native-size-parasitized", type=float, help="the same share for parasitized cells")
    t.add_argument("--workers", type=int, default=c["workers"],
                   help="processes that decode the images once into the cache")
    t.add_argument("--export", metavar="DIR", help="after training, export the best model to DIR and evaluate it")


def _add_export(sub: Any) -> None:
    e = sub.add_parser("export", help="write model.onnx + model_card.json (+ model.keras) from a run",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--run", required=True, help="run folder made by 'train'")
    e.add_argument("--out", default="trained_model", help="model folder the app loads")
    e.add_argument("--checkpoint", default="best.keras", help="checkpoint in the run folder to export")
    e.add_argument("--min-sensitivity", type=float, default=0.97,
                   help="threshold rule on VALIDATION patients: best accuracy with at least this sensitivity")
    e.add_argument("--rule", choices=["slide", "transfer", "sensitivity"], default="slide",
                   help="threshold rule: 'slide' keeps healthy validation slides of every lab at <= 0.5%% cells "
                        "called parasitized (training/operating_point.py); 'transfer' lowers that (never past "
                        "1%%) until 90%% of foreign labs' validation parasites are found; 'sensitivity' uses "
                        "--min-sensitivity")
    e.add_argument("--no-keras", action="store_true", help="do not copy model.keras (fine-tuning file)")


def _add_evaluate(sub: Any) -> None:
    v = sub.add_parser("evaluate", help="measure a model folder on the run's TEST patients; JSON report + plots",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    v.add_argument("--run", required=True, help="run folder whose split.csv defines the test patients")
    v.add_argument("--model", default="trained_model", help="model folder (model.onnx + model_card.json)")
    v.add_argument("--report", help="report folder (default: MODEL/report)")
    v.add_argument("--split-name", default="test", choices=["test", "val", "train"], help="which split to measure")
    v.add_argument("--no-card", action="store_true", help="do not write the test metrics into the model card")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = "python -m training " + shlex.join(argv)
    if args.command == "train":
        from training.augment import PRESETS
        from training.model import ModelConfig
        from training.train import TrainConfig, train

        cfg = TrainConfig(
            data=[str(Path(d)) for d in args.data], out=args.out,
            model=ModelConfig(args.input_size, args.width, args.batch_norm, args.dropout, args.head_units,
                              args.group_norm),
            patient_map=args.patient_map, unknown_group=args.unknown_group, fractions=args.split, seed=args.seed,
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, min_lr=args.min_lr,
            warmup_epochs=args.warmup_epochs, weight_decay=args.weight_decay, patience=args.patience,
            augment=PRESETS[args.augment], colour_transfer=args.colour_transfer,
            colour_transfer_parasitized=args.colour_transfer_parasitized, colour_spread=args.colour_spread,
            native_size=args.native_size, native_size_parasitized=args.native_size_parasitized,
            weights=args.weights, init=args.init, keep_split=args.keep_split, max_minutes=args.max_minutes,
            workers=args.workers,
            command=command,
        )
        run = train(cfg, resume=args.resume)
        if args.export:
            from training.evaluate import evaluate_model
            from training.export import export_model

            export_model(run, Path(args.export))
            evaluate_model(run, Path(args.export))
        return 0
    if args.command == "export":
        from training.export import export_model

        export_model(Path(args.run), Path(args.out), args.checkpoint, args.min_sensitivity, not args.no_keras,
                     args.rule)
        return 0
    from training.evaluate import evaluate_model

    evaluate_model(Path(args.run), Path(args.model), Path(args.report) if args.report else None,
                   args.split_name, update_card=not args.no_card)
    return 0
