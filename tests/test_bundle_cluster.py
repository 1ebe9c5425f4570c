"""The archive/cluster engine (issue 23) never goes into the desktop bundle, and its absence is explained."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bundle_helpers_cluster", ROOT / "packaging" / "bundle_helpers.py")
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_cluster_package_and_its_dependencies_are_excluded() -> None:
    modules = helpers.package_modules(ROOT / "malaria_desktop")
    assert (ROOT / "malaria_desktop" / "cluster" / "engine_ray.py").is_file()
    assert not [m for m in modules if m.startswith("malaria_desktop.cluster.") or m == "malaria_desktop.cluster"]
    assert "malaria_desktop.cluster_cli" in modules  # the CLI's options parse in every build
    excluded = helpers.excludes(helpers.package_sources(ROOT / "malaria_desktop"), [])
    assert {"malaria_desktop.cluster", "ray", "boto3", "botocore", "s3transfer", "moto"} <= set(excluded)


def test_without_the_cluster_package_s3_and_ray_say_what_to_install(tmp_path: Path) -> None:
    """What the frozen build does when asked for s3:// or --engine ray: exit 2 with the extra to install."""
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'malaria_desktop.cluster' or name.startswith('malaria_desktop.cluster.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from malaria_desktop.cli import main\n"
        f"sys.exit(main(['analyze', 's3://bucket/fields/', '--out', {str(tmp_path / 'r')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'malaria-desktop[cluster]'" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_the_cli_loads_neither_boto3_nor_ray_until_asked() -> None:
    code = ("import sys\nfrom malaria_desktop.cli import build_parser, main\n"
            "build_parser().parse_args(['analyze', 's3://b/p/', '--out', 's3://b/r/', '--engine', 'ray'])\n"
            "main(['analyze', '--help'])\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    loaded = set(proc.stdout.split())
    assert "malaria_desktop" in loaded and not {"ray", "boto3", "botocore", "moto"} & loaded
    assert "--engine {local,ray}" in proc.stdout or "--engine" in proc.stdout
