"""Which engine made a result: the exact versions of the libraries that compute it.

Why: a report must be traceable to the segmentation and inference code that produced it (issue 16). From a
source checkout the versions are read from the installed distributions (installed from
``requirements/lock.txt``); in the frozen build, where PyInstaller keeps no package metadata, they are read
from the ``build_info.json`` the spec wrote at build time from the same lock-installed environment.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# The distributions whose code decides a report's numbers or how it is written.
ENGINE_PACKAGES = ("numpy", "opencv-python-headless", "onnxruntime", "onnx", "pillow", "pyside6-essentials",
                   "fhir.resources")
BUILD_INFO_NAME = "build_info.json"
NOT_INSTALLED = "not installed"


def _frozen_packages() -> dict[str, str] | None:
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or base is None:
        return None
    try:
        info = json.loads((Path(base) / BUILD_INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    packages = info.get("packages") if isinstance(info, dict) else None
    return {str(k): str(v) for k, v in packages.items()} if isinstance(packages, dict) else None


def normalise(name: str) -> str:
    """PEP 503 name: ``PySide6_Essentials`` and ``pyside6-essentials`` are one distribution."""
    return name.lower().replace("_", "-").replace(".", "-")


@lru_cache(maxsize=1)
def engine_versions() -> dict[str, str]:
    """``{distribution: version}`` for :data:`ENGINE_PACKAGES` (``"not installed"`` where absent)."""
    frozen = _frozen_packages()
    if frozen is not None:
        by_name = {normalise(k): v for k, v in frozen.items()}
        return {name: by_name.get(normalise(name), NOT_INSTALLED) for name in ENGINE_PACKAGES}
    out = {}
    for name in ENGINE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = NOT_INSTALLED
    return out


def installed_distributions() -> dict[str, str]:
    """Every distribution of this environment, normalised name -> version (what the build records)."""
    return {normalise(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
