"""Nothing leaves the PC: switch off every dependency's telemetry before that dependency loads.

Why (issue 24, high): ONNX Runtime 1.32 carries a telemetry client. A run longer than about 10 s looked up
``mobile.events.data.microsoft.com`` and, where the name resolved, tried HTTPS connections; at session
creation it wrote a device ID and an event queue (program path, OS, CPU, model file) under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``. Its ``disable_telemetry_events()`` call did not stop
it; the environment switch read when the library loads does. ``malaria_desktop/__init__.py`` calls
``stay_offline()`` first thing, so every entry point (the CLI, the window, tests, ``training/``, the frozen
build, which also calls it before anything else) sets the switches before any import can load a library.

The values are forced, not defaults: a clinic tool that promises offline use must not phone home because a
user's shell happens to export ``ORT_DISABLE_TELEMETRY=0``. ``benchmarks/offline_trace.py`` and
``tests/test_offline.py`` show, with a syscall trace and a socket guard, that no call leaves the machine.
"""

from __future__ import annotations

import os

OFFLINE_ENVIRONMENT: dict[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",  # ONNX Runtime's 1DS client: DNS + HTTPS + ~/.cache/Microsoft (measured)
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray (the cluster extra) reports cluster usage to Anyscale
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",  # ... and asks about it on the terminal
    "DO_NOT_TRACK": "1",  # the common opt-out other tools honour
}


def stay_offline() -> None:
    """Set the telemetry switches in this process (inherited by every child process it starts)."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ[name] = value


__all__ = ["OFFLINE_ENVIRONMENT", "stay_offline"]
