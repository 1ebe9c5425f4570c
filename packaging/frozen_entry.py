"""Entry script of the frozen build (``build.spec`` freezes this file, not ``malaria_desktop/__main__.py``).

Why a separate script: PyInstaller runs its entry file as a top-level ``__main__`` module, where the
package's relative imports do not work; and a windowed Windows executable (``console=False``) starts with
``sys.stdout``/``sys.stderr`` set to ``None``, so anything that writes to them (argparse errors, logging,
tracebacks) would crash. This script fixes the streams, then hands over to the same ``cli.main`` the source
checkout runs: no subcommand -> the GUI, ``analyze``/``classify`` -> the command line.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

CLI_WORDS = {"analyze", "classify", "-h", "--help", "--version"}


def _attach_parent_console() -> bool:
    """Windows, windowed exe run from cmd/PowerShell with a CLI subcommand: print into that terminal.

    Best effort only (the shell does not wait for a windowed program, so its prompt may come back before the
    output); ``malaria-desktop-cli.exe`` is the proper console twin for scripts.
    """
    try:
        import ctypes

        attach_parent_process = -1
        if not ctypes.windll.kernel32.AttachConsole(attach_parent_process):  # type: ignore[attr-defined]
            return False
        sys.stdout = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        sys.stderr = open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        return True
    except (OSError, AttributeError):
        return False


def _fix_streams() -> None:
    """Give ``None`` streams a target so writes never raise (windowed builds on Windows)."""
    if sys.platform == "win32" and sys.stdout is None and CLI_WORDS.intersection(sys.argv[1:2]):
        _attach_parent_console()
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _drop_finder_arguments() -> None:
    """Older macOS Finder launches add ``-psn_0_12345``; argparse would reject it and the app not open."""
    if sys.platform == "darwin":
        sys.argv[1:] = [arg for arg in sys.argv[1:] if not arg.startswith("-psn_")]


def main() -> int:
    from malaria_desktop.offline import stay_offline

    stay_offline()  # telemetry switches first, before anything can load ONNX Runtime (issue 24)
    multiprocessing.freeze_support()  # no-op unless a child process re-executes the frozen program
    _drop_finder_arguments()
    _fix_streams()
    from malaria_desktop.cli import main as cli_main

    return int(cli_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
