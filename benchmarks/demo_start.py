"""How long ``handoff serve`` on the demo KB takes to be ready: with an empty index cache
(the first ``handoff demo`` on a machine) and with the cached index (every later one).

Each run starts ``handoff serve --port 0`` in a fresh data dir with ``[ai] cache_dir``
pointed at one folder, and times the wait for its ``listening on`` line (printed once
``/readyz`` would answer 200). The cold runs empty the cache first; the warm runs reuse
it. The ratio is warm / cold, both measured in this run.

    .venv/bin/python benchmarks/demo_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _ready_after(cache: Path) -> tuple[float, float]:
    """Seconds from starting ``handoff serve`` to its ``listening on`` line, and the CPU
    seconds (user + system) the server used in all (idle once ready): on a busy shared
    machine the second is what a quiet one would take."""
    data = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_AI__CACHE_DIR"] = str(cache)
    args = [sys.executable, "-m", "handoff_cli", "serve", "--port", "0", "--data-dir", str(data)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                wall = time.perf_counter() - t0
                break
        else:
            raise SystemExit(f"server exited with {proc.wait()}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    n = ap.parse_args().runs
    cache = Path(tempfile.mkdtemp(prefix="handoff-bench-cache-"))
    cold: list[tuple[float, float]] = []
    warm: list[tuple[float, float]] = []
    try:
        for _ in range(n):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(_ready_after(cache))
            warm.append(_ready_after(cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    base = statistics.median(w for w, _ in cold)
    print("start | median wall s | min wall s | median CPU s | wall ratio")
    print("--- | --- | --- | --- | ---")
    for name, runs in (("cold (index built)", cold), ("warm (index cached)", warm)):
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        low = min(w for w, _ in runs)
        print(f"{name} | {wall:.1f} | {low:.1f} | {cpu:.1f} | {wall / base:.2f}")


if __name__ == "__main__":
    main()
