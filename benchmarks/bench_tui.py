"""Benchmark: does the agent queue stay responsive with thousands of conversations?

Runs the real app headless (Textual's ``run_test``) on the in-memory fake server, once
with a small queue (the same-run baseline) and once with a large one, and prints a table:

- load: time from the ``queue`` snapshot to the table drawn;
- 1,000 updates: ``queue_item`` frames pushed through the connection worker, handled,
  and the screen repainted (wall time for all of them, and per update);
- key press: median and worst time from a key to the repainted screen, for ``down``
  (move the cursor), ``s`` (re-sort every row) and ``f`` (re-filter every row).

Usage (the fake server lives with the tests, hence ``.`` on the path)::

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_tui.py [--rows 5000] [--updates 1000] [--baseline 10]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from tests.fake import FakeClient, FakeServer

from handoff_server.protocol import AgentInfo, QueueItem, TriggerInfo, VisitorInfo
from handoff_tui import FixedClock, TUISettings, make_app

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
ME = AgentInfo(id="ag_me", name="Bench Agent", role="agent")
TEAMS = ["support", "billing", "dns", "senior", "migrations", None]
KINDS = ["low_confidence", "keyword", "human_request", "sentiment", "kb_entry"]


def make_item(n: int, rng: random.Random, *, seq: int = 1) -> QueueItem:
    """A plausible queue row number ``n``."""
    conf = round(rng.random(), 2)
    assigned = rng.random() < 0.3
    return QueueItem(
        conversation_id=f"c{n:06d}",
        status="assigned" if assigned else "queued",
        visitor=VisitorInfo(name=f"Visitor {n}", email=f"v{n}@example.org"),
        first_question=f"Question {n}: my site shows error {rng.randint(400, 599)} since this morning",
        trigger=TriggerInfo(kind=rng.choice(KINDS), detail="bench", confidence=conf, threshold=0.7),
        last_confidence=conf,
        priority=rng.choice([0, 0, 0, 1, 2, 3]),
        team=rng.choice(TEAMS),
        assigned_agent=ME if assigned else None,
        queued_at=NOW - timedelta(seconds=rng.randint(0, 7200)),
        updated_at=NOW,
        last_seq=seq,
    )


async def until(pilot, predicate, timeout: float = 120.0) -> None:
    """Let the app run until ``predicate()`` holds."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not finish")
        await asyncio.sleep(0)


async def measure(rows: int, updates: int, presses: int, seed: int = 1) -> dict[str, float]:
    """Run the scenario with ``rows`` conversations; returns timings in milliseconds."""
    rng = random.Random(seed)
    items = [make_item(n, rng) for n in range(rows)]
    server = FakeServer(ME, items, now=NOW)
    app = make_app(
        TUISettings(server_url="ws://bench.invalid", token="t", tick_seconds=3600),
        FakeClient(server),
        FixedClock(NOW),
    )
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        t0 = time.perf_counter()
        await until(
            pilot,
            lambda: (
                len(app.queue.items) == sum(1 for i in items if i.status in ("queued", "assigned"))
            ),
        )
        await pilot.pause()
        out["load_ms"] = (time.perf_counter() - t0) * 1000

        # Updates: change existing rows (confidence, priority, assignee) and add new ones.
        batch = []
        for k in range(updates):
            if k % 10 == 0:
                batch.append(make_item(rows + k, rng, seq=2))
            else:
                batch.append(make_item(rng.randrange(rows), rng, seq=2 + k))
        last = batch[-1]
        t0 = time.perf_counter()
        for item in batch:
            server.upsert(item)
        await until(pilot, lambda: app.queue.items.get(last.conversation_id) == last)
        await pilot.pause()
        out["updates_ms"] = (time.perf_counter() - t0) * 1000
        out["per_update_us"] = out["updates_ms"] * 1000 / updates

        for key in ("down", "s", "f"):
            times = []
            for _ in range(presses):
                t0 = time.perf_counter()
                await pilot.press(key)
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{key}_median_ms"] = statistics.median(times)
            out[f"{key}_max_ms"] = max(times)
    return out


def main() -> None:
    """Run both scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=10, help="rows in the baseline run")
    parser.add_argument("--presses", type=int, default=15)
    args = parser.parse_args()

    results = {
        args.baseline: asyncio.run(measure(args.baseline, args.updates, args.presses)),
        args.rows: asyncio.run(measure(args.rows, args.updates, args.presses)),
    }
    print(
        f"agent TUI queue benchmark — {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, terminal 160x48 headless"
    )
    print(f"{args.updates} queue_item updates; key presses: {args.presses} each\n")
    cols = [
        ("load_ms", "load ms"),
        ("updates_ms", f"{args.updates} upd ms"),
        ("per_update_us", "µs/upd"),
        ("down_median_ms", "down med ms"),
        ("down_max_ms", "down max ms"),
        ("s_median_ms", "sort med ms"),
        ("s_max_ms", "sort max ms"),
        ("f_median_ms", "filter med ms"),
        ("f_max_ms", "filter max ms"),
    ]
    header = f"{'rows':>6} | " + " | ".join(f"{title:>13}" for _, title in cols)
    print(header)
    print("-" * len(header))
    for rows, res in results.items():
        print(f"{rows:>6} | " + " | ".join(f"{res[key]:>13.1f}" for key, _ in cols))
    base, big = results[args.baseline], results[args.rows]
    print(
        f"\nratio {args.rows}/{args.baseline} rows: updates x{big['updates_ms'] / base['updates_ms']:.2f}, "
        f"down x{big['down_median_ms'] / base['down_median_ms']:.2f}, "
        f"sort x{big['s_median_ms'] / base['s_median_ms']:.2f}"
    )


if __name__ == "__main__":
    main()
