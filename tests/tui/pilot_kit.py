"""What the agent UI's pilot tests share: waiting for the app to reach a state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def until(
    pilot: Any, predicate: Callable[[], object], what: str, timeout: float = 20
) -> None:
    """Let the app run (``pilot.pause`` in 0.05 s steps) until ``predicate()`` holds.

    Raises AssertionError naming ``what`` after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def until_policy_screen(pilot: Any, app: Any) -> None:
    """Let the operator app run until its policy screen is up, drawn (``ready``) and
    holds the policy in force. Raises AssertionError after :func:`until`'s timeout."""
    from handoff_tui.screens.operator import OperatorScreen

    op = app.model.operator
    await until(
        pilot,
        lambda: isinstance(app.screen, OperatorScreen) and app.screen.ready and op.policy,
        "the policy screen",
    )
