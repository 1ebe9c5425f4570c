"""Shared fixtures. Qt tests run headless; the tiny ONNX model is built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.tiny_model import make_tiny_model  # importable through pytest's `pythonpath` (pyproject.toml)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid model folder (sigmoid, 32 px input, threshold 0.5) that flags dark purple pixels."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny_model"), input_size=32, threshold=0.5)
