"""Benchmark: how long a light ``handoff`` command takes, start to exit.

Each case runs ``python -m handoff_cli ...`` as a new process ``--runs`` times and
reports the median, min and max wall time; ``--baseline SRC`` also runs every case with
``PYTHONPATH=SRC`` (another checkout's ``src``, e.g. main's), interleaved run by run with
this checkout's, so both sides see the same load on a shared machine. Cases:

- ``--version`` and ``--help``: nothing but start-up;
- ``token list`` on a data dir holding one token: a real command reading the SQLite store.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_cli_start.py [--runs 10] [--baseline ../main/src]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_HERE_SRC = str(Path(__file__).resolve().parent.parent / "src")


def _env(src: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["PYTHONPATH"] = src
    return env


def _run(args: list[str], src: str) -> float:
    """Seconds for one ``python -m handoff_cli ARGS`` importing the code under ``src``."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "handoff_cli", *args],
        check=True, env=_env(src), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def _cases(data_dir: Path) -> dict[str, list[str]]:
    return {
        "handoff --version": ["--version"],
        "handoff --help": ["--help"],
        "handoff token list": ["token", "list", "--data-dir", str(data_dir)],
    }


def main() -> None:
    """Time each case, this checkout against ``--baseline`` when given; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", help="src folder of the checkout to compare against")
    args = parser.parse_args()
    sides = {"this": _HERE_SRC} | ({"baseline": args.baseline} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        _run(["token", "create", "--name", "Sam", "--data-dir", str(data)], _HERE_SRC)
        times: dict[tuple[str, str], list[float]] = {}
        for name, case in _cases(data).items():
            for _ in range(args.runs):
                for side, src in sides.items():
                    times.setdefault((name, side), []).append(_run(case, src))
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python"
        f" {platform.python_version()}, load average {load:.2f} at end, {args.runs} runs each"
    )
    print(f"{'case':<22} {'side':<9} {'median s':>9} {'min s':>7} {'max s':>7}")
    for (name, side), values in times.items():
        med = statistics.median(values)
        print(f"{name:<22} {side:<9} {med:>9.3f} {min(values):>7.3f} {max(values):>7.3f}")


if __name__ == "__main__":
    main()
