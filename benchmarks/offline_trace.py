"""Nothing leaves the PC: run ``analyze`` (and the window) under a syscall trace with a fresh home folder.

Why (issue 24, high): ONNX Runtime's telemetry client looked up ``mobile.events.data.microsoft.com`` in runs
longer than ~10 s and kept a device ID under ``~/.cache``. ``malaria_desktop.offline`` switches it off; this
script shows the result the way an auditor would check it, three ways at once:

- ``strace -f -e trace=network``: every ``connect``/``sendto``/``sendmsg`` of the process and its threads and
  children (native code included: ONNX Runtime's client is C++, no Python hook sees it). An AF_INET/AF_INET6
  address outside loopback, or a Unix socket of a name service (nscd, systemd-resolved), counts;
- a socket guard installed by a ``sitecustomize`` (Python's ``connect``/``sendto``/``getaddrinfo``...),
  which blocks and records any call outside loopback;
- the fresh ``HOME``: any file a dependency writes under ``~/.cache`` counts (the app's own data folder is
  listed, not counted). ``ORT_DISABLE_TELEMETRY`` is removed from the environment first, so the package has
  to set it itself.

    .venv/bin/python -m benchmarks.offline_trace [--fields 60] [--source chula|synthetic] [--window 12]
    .venv/bin/python -m benchmarks.offline_trace --control      # ONNX Runtime alone: the trace must see it

Prints the figures and exits 1 when any call or cache file is found (``--control``: exits 1 when the bare
library is *not* caught, i.e. when the observation itself is broken). Linux only for the trace (``strace``
must be installed: ``apt-get install strace``); without it the guard and cache checks still run and the
output says the trace was not taken.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import ROOT

CHULA = ROOT.parent / "shared" / "data" / "chula_rbc12" / "images"

GUARD_SOURCE = r'''
"""Offline guard (benchmarks/offline_trace.py): record and block every socket call outside loopback."""
import os
import socket

_LOG = os.environ.get("MD_NETGUARD_LOG", "")


def _local(host):
    host = host.decode() if isinstance(host, bytes) else host
    return host in (None, "", "localhost", "::1") or str(host).startswith(("127.", "::ffff:127."))


def _refuse(what, target):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{what} {target!r}\n")
    raise OSError(101, f"offline guard: {what} {target!r} refused")


def _wrap_method(name):
    real = getattr(socket.socket, name)

    def guarded(self, *args):
        address = args[-1] if args else None
        if self.family != getattr(socket, "AF_UNIX", None) and isinstance(address, tuple) and not _local(address[0]):
            _refuse(name, address)
        return real(self, *args)

    setattr(socket.socket, name, guarded)


def _wrap_lookup(name):
    real = getattr(socket, name)

    def guarded(host, *args, **kwargs):
        if not _local(host):
            _refuse(name, host)
        return real(host, *args, **kwargs)

    setattr(socket, name, guarded)


for _name in ("connect", "connect_ex", "sendto"):
    _wrap_method(_name)
for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
    _wrap_lookup(_name)
'''

_INET = re.compile(r'sa_family=AF_INET6?,.*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')
_NAME_SERVICES = ("/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/")


@dataclass
class Observation:
    """What one observed run did: exit code, seconds, and every call or file that should not be there."""

    returncode: int
    seconds: float
    traced: bool
    network: list[str] = field(default_factory=list)  # strace lines leaving the machine (or asking a DNS)
    guard: list[str] = field(default_factory=list)  # Python socket calls the guard refused
    cache: list[str] = field(default_factory=list)  # files under the fresh home's .cache
    home_files: list[str] = field(default_factory=list)  # everything written under the fresh home
    output: str = ""

    @property
    def clean(self) -> bool:
        return not (self.network or self.guard or self.cache)


def outside_calls(trace: str) -> list[str]:
    """strace lines that reach outside loopback: an inet address, or a name-service socket (a DNS query)."""
    found = []
    for line in trace.splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg)\(", line):
            continue
        match = _INET.search(line)
        if match:
            host = match.group(1) or match.group(2)
            if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1", "0.0.0.0")):
                found.append(line.strip())
        elif "AF_UNIX" in line and any(name in line for name in _NAME_SERVICES):
            found.append(line.strip())
    return found


# ONNX Runtime's telemetry client stays silent when it sees a CI service (names read from its binary), so a
# trace under CI would prove nothing: the observed run looks like a clinic PC, not a build server.
CI_MARKERS = ("CI", "CONTINUOUS_INTEGRATION", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
              "JENKINS_URL", "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR",
              "BITBUCKET_BUILD_NUMBER")


def observed_env(home: Path, guard_dir: Path, log: Path) -> dict[str, str]:
    """A fresh home, the guard on the path, no telemetry switch and no CI marker inherited from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MALARIA_DESKTOP_DATA"))}
    for name in ("ORT_DISABLE_TELEMETRY", *CI_MARKERS):
        env.pop(name, None)
    pythonpath = [str(guard_dir), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join(pythonpath), MD_NETGUARD_LOG=str(log),
               QT_QPA_PLATFORM="offscreen")
    return env


def run_observed(args: list[str], workdir: Path, timeout: float = 900) -> Observation:
    """Run ``python ARGS`` with a fresh home under the guard (and strace when installed)."""
    home, guard_dir, log, trace = workdir / "home", workdir / "guard", workdir / "guard.log", workdir / "trace.txt"
    home.mkdir(parents=True)
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD_SOURCE, encoding="utf-8")
    strace = shutil.which("strace")
    command = [sys.executable, *args]
    if strace:
        command = [strace, "-f", "-qq", "-e", "trace=network", "-o", str(trace), *command]
    start = time.perf_counter()
    proc = subprocess.run(command, env=observed_env(home, guard_dir, log), cwd=workdir, capture_output=True,
                          text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    return Observation(
        returncode=proc.returncode, seconds=seconds, traced=bool(strace),
        network=outside_calls(trace.read_text(errors="replace")) if strace and trace.exists() else [],
        guard=log.read_text(encoding="utf-8").splitlines() if log.exists() else [],
        cache=[f for f in files if f.startswith(".cache")], home_files=files,
        output=(proc.stdout + proc.stderr)[-4000:],
    )


CONTROL = r"""
import sys, time
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
spec = session.get_inputs()[0]
x = np.zeros([1 if not isinstance(d, int) else d for d in spec.shape], np.float32)
start = time.monotonic()
while time.monotonic() - start < float(sys.argv[2]):
    session.run(None, {spec.name: x})
    time.sleep(0.2)
"""


def _fields(n: int, source: str, folder: Path) -> list[Path]:
    if source == "chula" and CHULA.is_dir():
        return sorted(CHULA.glob("*.jpg"))[:n]
    from malaria_desktop.core.synthetic import write_synthetic_smear

    folder.mkdir()
    paths = [folder / f"field{i:03d}.png" for i in range(n)]
    for i, path in enumerate(paths):
        write_synthetic_smear(path, seed=i, width=640, height=480)
    return paths


def _report(name: str, obs: Observation) -> None:
    trace = "strace" if obs.traced else "NO strace (not installed): guard and cache checks only"
    print(f"{name}: exit {obs.returncode}, {obs.seconds:.1f} s, {trace}; outside calls {len(obs.network)}, "
          f"guard refusals {len(obs.guard)}, files under ~/.cache {len(obs.cache)}, "
          f"files under the fresh home {len(obs.home_files)}")
    for line in (obs.network + obs.guard + obs.cache)[:10]:
        print("   ", line[:200])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=60, help="fields for analyze (default 60)")
    parser.add_argument("--source", choices=("chula", "synthetic"), default="chula",
                        help="Chula RBC-12 fields from ../shared/data (default; synthetic when absent)")
    parser.add_argument("--window", type=float, default=0, metavar="S",
                        help="also open the window on 3 fields for S seconds (0: skip)")
    parser.add_argument("--control", action="store_true",
                        help="bare ONNX Runtime for 12 s, no package: checks that the observation sees it")
    args = parser.parse_args(argv)
    model = ROOT / "trained_model"
    with tempfile.TemporaryDirectory(prefix="offline-trace-") as tmp:
        work = Path(tmp)
        if args.control:
            obs = run_observed(["-c", CONTROL, str(model / "model.onnx"), "12"], work / "control")
            _report("control (bare onnxruntime, 12 s)", obs)
            return 0 if not obs.clean else 1
        fields = _fields(args.fields, args.source, work / "fields")
        obs = run_observed(["-m", "malaria_desktop", "analyze", *map(str, fields), "--out", str(work / "out")],
                           work / "analyze")
        _report(f"analyze, {len(fields)} fields ({args.source})", obs)
        failed = obs.returncode != 0 or not obs.clean
        if args.window > 0:
            win = run_observed(["-m", "malaria_desktop", "gui", *map(str, fields[:3]), "--quit-after",
                                str(args.window)], work / "window")
            _report(f"window, {args.window:g} s", win)
            failed = failed or win.returncode != 0 or not win.clean
        if failed:
            print(obs.output[-2000:])
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
