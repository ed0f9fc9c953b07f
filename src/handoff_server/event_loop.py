"""The event loop ``handoff serve`` runs on: uvloop where it is installed, else asyncio's.

uvloop (https://github.com/MagicStack/uvloop, libuv wrapped in Cython) is a drop-in
:class:`asyncio.AbstractEventLoop`; websockets' asyncio server runs on it unchanged. It
is the default (``server.event_loop = "uvloop"``) because it takes the loop's own work
(scheduling callbacks and tasks, the selector, the transports' reads and writes) out of
the interpreter: see docs/benchmarks.md ("Per-turn CPU, third pass") for what it saves
per turn. It is a dependency on every platform but Windows (no uvloop there);
``server.event_loop = "asyncio"`` keeps asyncio's own loop. Where uvloop cannot be
imported, the server says so in its log and runs on asyncio's loop.

Only ``handoff serve`` picks its loop here; ``start_server`` as a library runs on
whatever loop its caller runs (the tests' own, for instance).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EventLoopName", "loop_factory", "loop_name", "run"]

log = logging.getLogger(__name__)

EventLoopName = Literal["uvloop", "asyncio"]
"""The choices of ``server.event_loop``."""

T = TypeVar("T")


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the loop ``name`` for :class:`asyncio.Runner`: ``uvloop.new_event_loop``
    for ``"uvloop"``, ``None`` (asyncio's default loop) for ``"asyncio"`` and for
    ``"uvloop"`` where uvloop cannot be imported (Windows; an install without it), in
    which case a warning is logged. Never raises."""
    if name == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        log.warning(
            "server.event_loop is 'uvloop' but uvloop cannot be imported (%s); "
            "running on asyncio's own event loop",
            exc,
        )
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], name: EventLoopName) -> T:
    """Run ``main`` to completion on a new loop ``name`` (as :func:`asyncio.run` does:
    the loop is closed after, async generators and the default executor shut down) and
    return its result; raises what ``main`` raises."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """The running loop's implementation, for the log: ``"uvloop"`` or ``"asyncio"``
    (another loop: its module's top-level package)."""
    return type(loop).__module__.split(".")[0]
