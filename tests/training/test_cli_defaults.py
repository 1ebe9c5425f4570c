"""The training CLI's defaults are the config dataclasses' defaults (they once drifted: 64 vs 48 px)."""

from __future__ import annotations

from training.cli import build_parser
from training.model import ModelConfig
from training.train import TrainConfig


def test_train_defaults_come_from_the_config_dataclasses() -> None:
    args = build_parser().parse_args(["train", "--out", "run"])
    model = ModelConfig(args.input_size, args.width, args.batch_norm, args.dropout, args.head_units)
    assert model == ModelConfig()
    defaults = TrainConfig(data=[], out="run")
    for name in ("seed", "epochs", "batch_size", "lr", "min_lr", "warmup_epochs", "weight_decay", "patience",
                 "workers", "colour_transfer", "unknown_group"):
        assert getattr(args, name) == getattr(defaults, name), name
    assert args.split == defaults.fractions
