"""The load generator: starts simulated visitors by the chosen arrival process, runs the
simulated agents beside them, and collects every conversation's record.

One engine for everything that drives the server from outside: ``handoff simulate``,
its tests, and ``benchmarks/bench_simulate.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from handoff_cli.simulate.agents import AgentStats, Desk
from handoff_cli.simulate.progress import Tally
from handoff_cli.simulate.record import ConversationRecord, Script, TurnRecord
from handoff_cli.simulate.scenario import AgentSpec, ThinkTime
from handoff_cli.simulate.server_metrics import scrape_metrics
from handoff_cli.simulate.visitor import VisitorContext, VisitorDriver
from handoff_cli.simulate.workload import ScriptFeed, poisson_gaps

__all__ = ["Plan", "RunResult", "run_simulation"]

MAX_IN_FLIGHT = 5000
"""Open loop: conversations running at once past which arrivals are skipped (and
counted), so an overloaded server cannot make the simulator exhaust the machine."""


@dataclass(frozen=True)
class Plan:
    """A simulation to run against ``server_url``.

    ``scripts``: one pass of conversations. Arrivals: ``rate`` per second (open loop,
    Poisson) or ``concurrency`` visitors (closed loop); neither: closed loop with
    ``concurrency`` = the pass's size. Stop starting after ``count`` conversations or
    ``duration`` seconds; neither: one pass. ``agents``: simulated agents (``count`` 0:
    none); ``tokens``: agent tokens (empty: no agents' side at all). ``timeout``:
    seconds to wait for each reply; ``patience``: seconds a handed-off visitor waits for
    the agents to finish; ``think_time``: default seconds before each turn."""

    server_url: str
    scripts: list[Script]
    rate: float | None = None
    concurrency: int | None = None
    count: int | None = None
    duration: float | None = None
    agents: AgentSpec = field(default_factory=AgentSpec)
    tokens: list[str] = field(default_factory=list)
    timeout: float = 30.0
    patience: float = 60.0
    think_time: ThinkTime = 0.0
    seed: int = 1
    shuffle: bool = True


@dataclass
class RunResult:
    """What a run produced: every conversation's record (in the order they started),
    the agents' counts, the server's ``/metrics`` before and after, the frame types and
    event kinds received anywhere in the run, timing and skipped arrivals."""

    plan: Plan
    records: list[ConversationRecord]
    agents: AgentStats | None
    metrics_before: dict[str, Any]
    metrics_after: dict[str, Any]
    seen: set[str]
    started_at: datetime
    seconds: float
    skipped: int = 0


class _Run:
    """One run in progress: the feed, the tally and the running conversations."""

    def __init__(self, plan: Plan, tally: Tally, desk: Desk | None) -> None:
        self.plan = plan
        self.tally = tally
        self.rng = random.Random(plan.seed)
        total = plan.count if plan.count is not None or plan.duration else len(plan.scripts)
        self.feed = ScriptFeed(plan.scripts, total, self.rng, plan.shuffle)
        self.deadline = time.monotonic() + plan.duration if plan.duration else None
        self.records: list[ConversationRecord] = []
        self.skipped = 0
        self.ctx = VisitorContext(
            server_url=plan.server_url,
            timeout=plan.timeout,
            think_time=plan.think_time,
            patience=plan.patience,
            agents=desk is not None and plan.agents.count > 0,
            joined=desk.join if desk is not None else (lambda record: None),
            turned=self._turned,
        )

    def _next(self) -> Script | None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return None
        return self.feed.next()

    def _turned(self, record: ConversationRecord, turn: TurnRecord) -> None:
        if turn.outcome == "answered" and turn.latency is not None:
            self.tally.ai_reply_seconds.append(turn.latency)
        elif turn.outcome == "escalated":
            self.tally.escalated[turn.trigger or "unknown"] += 1

    async def conversation(self, script: Script) -> None:
        """Run one conversation and count it."""
        self.tally.started += 1
        driver = VisitorDriver(script, self.ctx, random.Random(self.rng.random()))
        self.records.append(driver.record)
        record = await driver.run()
        self.tally.finished += 1
        self.tally.contained += not record.escalated
        self.tally.errors.update(code for code, _ in record.errors)

    async def open_loop(self, rate: float) -> None:
        """Start conversations at Poisson arrival times until the feed ends."""
        running: set[asyncio.Task[None]] = set()
        for gap in poisson_gaps(rate, self.rng):
            script = self._next()
            if script is None:
                break
            if len(running) >= MAX_IN_FLIGHT:
                self.skipped += 1
            else:
                task = asyncio.create_task(self.conversation(script))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.sleep(gap)
        await asyncio.gather(*running)

    async def closed_loop(self, concurrency: int) -> None:
        """``concurrency`` visitors, each starting the next conversation when one ends."""

        async def visitor() -> None:
            while (script := self._next()) is not None:
                await self.conversation(script)

        await asyncio.gather(*(visitor() for _ in range(concurrency)))


async def run_simulation(plan: Plan, tally: Tally | None = None) -> RunResult:
    """Run ``plan`` and return what happened. ``tally`` is updated live (for progress).

    Raises ``websockets.exceptions.InvalidStatus`` when the server refuses an agent
    token, ``OSError`` when the agents cannot connect; a visitor's failures are recorded
    in its conversation, never raised."""
    tally = tally or Tally()
    started_at, t0 = datetime.now(UTC), time.monotonic()
    async with httpx.AsyncClient() as http:
        before = await scrape_metrics(http, plan.server_url)
        desk = (
            Desk(plan.server_url, plan.tokens, plan.agents, plan.timeout) if plan.tokens else None
        )
        run = _Run(plan, tally, desk)
        try:
            if desk is not None:
                await desk.start(run.rng)
            if plan.rate is not None:
                await run.open_loop(plan.rate)
            else:
                await run.closed_loop(plan.concurrency or max(1, len(plan.scripts)))
        finally:
            if desk is not None:
                await desk.close()
        after = await scrape_metrics(http, plan.server_url)
    seen = {kind for record in run.records for kind in record.kinds()}
    return RunResult(
        plan=plan,
        records=run.records,
        agents=desk.stats if desk is not None else None,
        metrics_before=before,
        metrics_after=after,
        seen=seen,
        started_at=started_at,
        seconds=time.monotonic() - t0,
        skipped=run.skipped,
    )
