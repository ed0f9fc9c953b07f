"""Benchmark: visitors' round trips per second and their p99 through one and two
``handoff serve`` nodes on PostgreSQL (with NATS between them), against the embedded
SQLite single node in the same run. The load is the simulator's engine (what
``handoff simulate`` runs): closed loop, no think time, each visitor asks one question of
the demo question set, waits for the answer or the handoff, and starts again. With two
nodes the visitors are split evenly between them (as a load balancer would) and the
latencies pooled.

Needs PostgreSQL and NATS (defaults: the machine's local services); the PostgreSQL
nodes share a schema made for the run and dropped after it.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_cluster.py [--levels 16,64] [--seconds 15] \\
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--nats nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg

from handoff_cli.simulate import Plan, build_report, question_scripts, run_simulation
from handoff_cli.simulate.report import quantiles

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "demo_questions.csv"


async def _serve(data_dir: Path, *extra: str) -> tuple[asyncio.subprocess.Process, str]:
    """``handoff serve`` on a free port; returns the process and its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_SERVER__RATE_LIMIT_PER_MINUTE"] = "100000"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handoff_cli", "serve", "--port", "0", "--data-dir",
        str(data_dir), "--log-level", "WARNING", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    while line := (await proc.stdout.readline()).decode():
        m = re.search(r"listening on (ws://\S+)", line)
        if m:
            asyncio.get_running_loop().create_task(_drain(proc))
            return proc, m.group(1)
    raise RuntimeError(f"handoff serve did not start ({await proc.wait()})")


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


async def _stop(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        if p.returncode is None:
            p.terminate()
    for p in procs:
        await p.wait()


async def _measure(urls: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    """One closed-loop run over ``urls`` (visitors split evenly); a round trip is a
    message to its outcome (the AI's answer or the handoff)."""
    plans = [
        Plan(
            server_url=url,
            scripts=question_scripts(QUESTIONS),
            concurrency=max(1, concurrency // len(urls)),
            duration=seconds,
            timeout=60.0,
            patience=0.0,
            shuffle=True,
        )
        for url in urls
    ]
    results = await asyncio.gather(*(run_simulation(p) for p in plans))
    turns = [
        t.latency
        for result in results
        for r in result.records
        for t in r.turns
        if t.latency is not None and t.outcome in ("answered", "escalated")
    ]
    errors = sum(build_report(result, {})["errors"]["total"] for result in results)
    elapsed = max(result.seconds for result in results)
    q = quantiles(turns)
    return {
        "trips_per_s": len(turns) / elapsed,
        "p50_ms": (q["p50"] or 0) * 1000,
        "p99_ms": (q["p99"] or 0) * 1000,
        "errors": errors,
    }


async def _setups(root: Path, pg_url: str, nats_url: str) -> dict[str, list[str]]:
    """Start the three setups; returns their URLs by name (processes kept in _PROCS)."""
    sqlite_proc, sqlite_url = await _serve(root / "sqlite")
    cluster = ["--store", pg_url, "--bus", nats_url]
    one_proc, one_url = await _serve(root / "pg1", *cluster)
    a_proc, a_url = await _serve(root / "pg2a", *cluster)
    b_proc, b_url = await _serve(root / "pg2b", *cluster)
    _PROCS.extend([sqlite_proc, one_proc, a_proc, b_proc])
    return {"sqlite, 1 node": [sqlite_url], "pg, 1 node": [one_url], "pg, 2 nodes": [a_url, b_url]}


_PROCS: list[asyncio.subprocess.Process] = []


async def main(levels: list[int], seconds: float, pg_base: str, nats_url: str) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    sep = "&" if "?" in pg_base else "?"
    pg_url = f"{pg_base}{sep}options=-csearch_path%3D{schema}"
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    print(
        f"# {platform.node()} · {os.cpu_count()} cores · {platform.python_version()}"
        f" · {seconds:g} s per level and setup"
    )
    print(
        f"{'visitors':>8} {'setup':>14} {'trips/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'errors':>7} {'vs sqlite':>9}"
    )
    try:
        setups = await _setups(root, pg_url, nats_url)
        for level in levels:
            rows = {name: await _measure(urls, level, seconds) for name, urls in setups.items()}
            base = rows["sqlite, 1 node"]["trips_per_s"]
            for name, row in rows.items():
                ratio = row["trips_per_s"] / base if base else 0.0
                print(
                    f"{level:>8} {name:>14} {row['trips_per_s']:>8.1f} {row['p50_ms']:>8.1f}"
                    f" {row['p99_ms']:>8.1f} {row['errors']:>7} {ratio:>9.1%}"
                )
    finally:
        await _stop(_PROCS)
        with psycopg.connect(pg_base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="16,64", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per level and setup")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    asyncio.run(
        main([int(x) for x in args.levels.split(",")], args.seconds, args.postgres, args.nats)
    )
