"""A queued visitor who has waited past the estimate they were told hears so, and the
estimate grows with the wait: in a pull team whose online agent does not claim ("under a
minute" for ever before), and in a push team whose agent holds a conversation longer
than the typical handling time ("about 10 minutes" for ever before). A real server on an
ephemeral port with its clock set by the test, real visitor and agent clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handoff_server.app import RunningServer, start_server
from handoff_server.client import Connection
from handoff_server.protocol import (
    AClaim,
    ASubscribeQueue,
    SAck,
    SFallbackOffer,
    SQueue,
    SWaitEstimate,
)
from tests.conftest import create_token, make_settings
from tests.helpers import online_agent
from tests.server.routing_kit import act as kit_act
from tests.server.routing_kit import next_offer
from tests.server.test_fallbacks import _maybe, act, escalate, offer_of

SORRY = "Sorry, this is taking longer than we expected: you've been waiting"


class Clock:
    """The server's clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def timed(tmp_path: Path, demo_answerer: Any) -> AsyncIterator[Any]:
    """Start a real server whose clock the test moves, re-estimating every 0.2 s."""
    started: list[RunningServer] = []

    async def start(clock: Clock, **sections: Any) -> RunningServer:
        settings = make_settings(
            tmp_path / f"d{len(started)}", waiting={"refresh_seconds": 0.2}, **sections
        )
        srv = await start_server(settings, answerer=demo_answerer, clock=clock)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        await srv.close()


async def next_estimate(conn: Connection) -> SWaitEstimate:
    frames = await conn.recv_until(lambda f: isinstance(f, SWaitEstimate), 10)
    return frames[-1]


async def test_a_pull_visitor_told_under_a_minute_hears_the_wait_grow(timed) -> None:
    clock = Clock()
    gate = {"fallbacks": {"gate": {"max_wait_minutes": 5}}}
    srv = await timed(clock, policy=gate)  # pull: the default mode
    sam = await online_agent(srv.url, await create_token(srv))  # online, free, not claiming
    ada, cid, frames = await escalate(srv.url, name="Ada")
    first = next(f for f in frames if isinstance(f, SWaitEstimate))
    assert first.text == "You're next in line. A person should be with you in under a minute."
    assert offer_of(frames) is None

    clock.now += timedelta(minutes=3)
    late = await next_estimate(ada)
    assert (late.minutes, late.ahead) == (3, 0)
    assert late.text == (
        f"You're next in line. {SORRY} 3 minutes. A person should be with you in about 3 minutes."
    )
    # The usual rule against noise: 20 seconds more is no news...
    clock.now += timedelta(seconds=20)
    assert await _maybe(ada, SWaitEstimate, 1.0) == []
    # ...a minute more is.
    clock.now += timedelta(seconds=40)
    assert (await next_estimate(ada)).minutes == 4
    # Agents see on the queue row what the visitor was told, and that it is late.
    await sam.send(ASubscribeQueue(type="subscribe_queue"))
    (row,) = (await sam.recv_until(lambda f: isinstance(f, SQueue), 10))[-1].items
    assert row.wait is not None and row.wait.late and row.wait.minutes == 4
    assert row.wait.text == f"You're next in line. {SORRY} 4 minutes. " + (
        "A person should be with you in about 4 minutes."
    )

    # Past the gate's longest wait, the fallbacks are offered, as for any long wait.
    clock.now += timedelta(minutes=2)
    offer = await ada.recv_until(lambda f: isinstance(f, SFallbackOffer), 10)
    told = next(f for f in offer if isinstance(f, SWaitEstimate))
    assert told.minutes == 6 and SORRY in told.text
    assert offer[-1].reason == "wait_too_long"

    # A person comes: nothing more is told.
    assert isinstance(await act(sam, AClaim, cid), SAck)
    clock.now += timedelta(minutes=10)
    assert await _maybe(ada, SWaitEstimate, 1.0) == []
    await ada.close()
    await sam.close()


async def test_a_push_visitor_told_ten_minutes_hears_the_wait_grow(timed) -> None:
    clock = Clock()
    srv = await timed(clock, assignment={"mode": "push", "default_capacity": 1})
    sam = await online_agent(srv.url, await create_token(srv))
    ada, ada_id, _ = await escalate(srv.url, name="Ada")
    assert (await next_offer(sam)).item.conversation_id == ada_id
    assert isinstance(await kit_act(sam, "accept", ada_id), SAck)  # Sam is full for a while
    bob, _, frames = await escalate(srv.url, name="Bob")
    first = next(f for f in frames if isinstance(f, SWaitEstimate))
    assert first.text == "You're next in line. A person should be with you in about 10 minutes."

    clock.now += timedelta(minutes=9)
    assert await _maybe(bob, SWaitEstimate, 1.0) == []  # within what he was told
    clock.now += timedelta(minutes=5)  # 14 minutes: past it, and by more than a third
    late = await next_estimate(bob)
    assert late.text == (
        f"You're next in line. {SORRY} 14 minutes. A person should be with you in about 15 minutes."
    )
    for conn in (ada, bob, sam):
        await conn.close()


async def test_the_wait_counts_from_the_return_to_the_queue(timed) -> None:
    """Released back to the queue at its old place, a visitor's wait begins again: the
    time they spent with an agent is no waiting."""
    clock = Clock()
    srv = await timed(clock)
    sam = await online_agent(srv.url, await create_token(srv))
    ada, cid, _ = await escalate(srv.url, name="Ada")
    assert isinstance(await act(sam, AClaim, cid), SAck)
    clock.now += timedelta(minutes=20)
    assert isinstance(await kit_act(sam, "release", cid), SAck)
    again = await next_estimate(ada)
    assert again.text == "You're next in line. A person should be with you in under a minute."
    clock.now += timedelta(minutes=2)
    assert f"{SORRY} 2 minutes." in (await next_estimate(ada)).text
    await ada.close()
    await sam.close()
