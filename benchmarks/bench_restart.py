"""Benchmark: how long ``handoff serve`` takes to come back after a crash.

Each run starts ``handoff serve --port 0`` as a new process on one data dir and times
until it prints ``listening on`` (what a supervisor waits for), then SIGKILLs it (a
crash: no clean shutdown). Three cases, each ``--runs`` times, median shown:

- cold: a data dir with no index cache (the first start, or a KB just edited): the
  answerer's index is built (the baseline);
- restart: the same data dir again, SIGKILLed with 20 conversations mid-flight; the index
  comes from the cache (:mod:`handoff_server.ai.index_cache`) and interrupted AI turns
  are finished;
- import only: ``python -c "import handoff_server.app"``, the floor every start pays
  (scikit-learn and SciPy, needed by the index and the escalation detectors).

Printed as a table with each figure's ratio to the cold start of the same run.

Usage::

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_restart.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}


def _start(data_dir: Path) -> tuple[float, subprocess.Popen[str]]:
    """Start ``handoff serve`` on ``data_dir``; seconds until it listens, and the process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "serve", "--port", "0",
         "--data-dir", str(data_dir), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            return time.perf_counter() - start, proc
    raise SystemExit(f"server did not start: {proc.wait()}")


def _interrupted_turns(data_dir: Path, count: int) -> None:
    """Leave ``count`` visitor messages stored without their AI reply, as a crash
    between the ack and the answer does (the restart finishes them)."""
    from handoff_server.store import ConversationRecord, NewEvent, SQLiteStore, hash_token, utcnow

    store = SQLiteStore(data_dir)
    for i in range(count):
        cid = f"bench-{time.time_ns()}-{i}"
        now = utcnow()
        store.create_conversation(
            ConversationRecord(
                id=cid, status="ai", resume_token_hash=hash_token(cid),
                created_at=now, updated_at=now, visitor={},
            ),
            [NewEvent(kind="conversation_started", data={"visitor": {}})],
        )  # fmt: skip
        store.append_events(
            cid, [NewEvent(kind="visitor_message", data={"text": "how do I reset my password"},
                           client_msg_id=f"m{i}", sender="visitor")], {},
        )  # fmt: skip
    store.close()


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _import_only() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import handoff_server.app"], check=True, env=_env())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, warm, floor = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            took, proc = _start(data)
            cold.append(took)
            _kill(proc)
            _interrupted_turns(data, 20)
            took, proc = _start(data)
            warm.append(took)
            _kill(proc)
        floor.append(_import_only())
    base = statistics.median(cold)
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{'case':<36} {'median s':>9} {'min s':>7} {'max s':>7} {'× cold':>7}")
    for name, values in [
        ("cold start (index built)", cold),
        ("restart after SIGKILL (index cached)", warm),
        ("import handoff_server.app only", floor),
    ]:
        med = statistics.median(values)
        print(f"{name:<36} {med:>9.2f} {min(values):>7.2f} {max(values):>7.2f} {med / base:>7.2f}")


if __name__ == "__main__":
    main()
