"""The periodic loop the server's sweeps and re-reads share (background.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from handoff_server.background import BackgroundTask


async def test_a_failing_step_is_logged_and_the_next_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A step that raises must not end the loop (a store that fails once would stop
    the retention sweep, the erasure watch or the tokens' re-read for good): it is
    logged with the task's name and the next step runs; ``close`` stops it."""
    calls: list[int] = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise OSError("disk I/O error")

    task = BackgroundTask()
    with caplog.at_level(logging.WARNING, logger="handoff_server.background"):
        task.every(0.02, step, "test sweep")
        async with asyncio.timeout(10):
            while len(calls) < 3:
                await asyncio.sleep(0.01)
        await task.close()
    count = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) == count  # closed: no more steps
    assert [r.getMessage() for r in caplog.records] == ["test sweep failed: disk I/O error"]


@pytest.mark.parametrize("at_once", [True, False])
async def test_the_first_step_runs_at_once_or_after_an_interval(at_once: bool) -> None:
    calls: list[int] = []

    async def step() -> None:
        calls.append(1)

    task = BackgroundTask()
    task.every(60.0, step, "test sweep", at_once=at_once)
    await asyncio.sleep(0.3)
    await task.close()
    assert calls == ([1] if at_once else [])
