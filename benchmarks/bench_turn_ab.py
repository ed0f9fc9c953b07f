"""Server CPU per turn of two checkouts, measured side by side (issue 14).

On a shared machine the load moves between two runs of ``bench_turn.py`` by more than
a change's effect. This starts ``handoff serve`` from two source trees (each its own
``PYTHONPATH``) and drives them in turns, ``--secs`` of the 50-visitor closed loop of
``bench_turn.py`` each, ``--rounds`` times (A first in even rounds, B first in odd
ones), so both see the same load; it prints each server's CPU per turn (user + system,
all threads, from ``/proc``) against the answerer's + ``decide()``'s cost in this process
(measured before and after, the mean), then B's CPU per turn over A's in each round and
their median: the rounds' spread shows how much of a difference is the machine's noise.

Usage::

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/bench_turn_ab.py A_SRC B_SRC
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_turn as bt  # noqa: E402

from handoff_cli.simulate.servers import start_server, stop_server  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    os.environ["HANDOFF_SERVER__RATE_LIMIT_PER_MINUTE"] = "1000000"
    print(f"# load average {os.getloadavg()[0]:.2f} at start")
    questions, own = bt.answerable(60)
    srcs = {"A": args.a, "B": args.b}
    here = str(Path(__file__).resolve().parent)
    base = os.environ.get("PYTHONPATH", "")
    servers = {}
    try:
        for key, src in srcs.items():
            os.environ["PYTHONPATH"] = f"{src}:{here}"
            root = Path(tempfile.mkdtemp(prefix=f"bench-ab-{key}-"))
            servers[key] = await start_server(root, "turn", None, 0, [])
        os.environ["PYTHONPATH"] = base
        plan = bt.scripts(questions, 10)
        totals = {key: [0.0, 0, 0.0] for key in srcs}
        for srv in servers.values():
            await bt.load(srv.url, plan, 50, 3)  # warm
        ratios = []
        for n in range(args.rounds):
            this = {}
            for key in ("A", "B") if n % 2 == 0 else ("B", "A"):
                srv = servers[key]
                cpu0 = bt.cpu_seconds(srv.process.pid)
                r = await bt.load(srv.url, plan, 50, args.secs)
                if r["errors"] or r["handoffs"]:
                    raise RuntimeError(f"{key}: {r}")
                this[key] = bt.cpu_seconds(srv.process.pid) - cpu0
                totals[key][0] += this[key]
                totals[key][1] += r["turns"]
                totals[key][2] += r["trips_per_s"] / args.rounds
                this[key] /= r["turns"]
            ratios.append(this["B"] / this["A"])
    finally:
        for srv in servers.values():
            await stop_server(srv.process)
    own = (own + bt.answerable(60)[1]) / 2
    for key, (cpu, turns, rate) in totals.items():
        per = cpu / turns
        print(
            f"{key} {srcs[key]}: server CPU/turn {per * 1000:.2f} ms, {rate:.0f} trips/s,"
            f" answer+decide {own * 1000:.2f} ms, ratio {per / own:.2f}x"
        )
    print(
        f"B/A CPU/turn per round: {' '.join(f'{x:.2f}' for x in ratios)};"
        f" median {statistics.median(ratios):.3f}"
    )
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", help="source tree A (its src/ directory)")
    parser.add_argument("b", help="source tree B")
    parser.add_argument("--rounds", type=int, default=6, help="turns of each server")
    parser.add_argument("--secs", type=float, default=5.0, help="seconds per turn")
    asyncio.run(main(parser.parse_args()))
