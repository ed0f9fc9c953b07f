"""Push rounds across nodes: every node starts a new round of offers of a conversation
its agents all passed on, and the shared offer lease keeps one offer of it open at a
time however the nodes' rounds fall. Two in-process nodes on one PostgreSQL schema
(the ``nodes`` fixture of ``test_queue_catch_up``)."""

from __future__ import annotations

import asyncio
import time

from handoff_server.client import Connection
from handoff_server.protocol import SOffer, SOfferEnded
from tests.cluster.conftest import add_agent
from tests.cluster.test_queue_catch_up import nodes  # noqa: F401 - a fixture
from tests.cluster.test_shared_presence import escalate
from tests.helpers import online_agent

WATCH = 8.0
"""Seconds the agents' offers are watched."""


async def _offer_spans(conn: Connection, until: float) -> list[tuple[str, float, float]]:
    """Each offer to ``conn``'s agent: the conversation and when it was open (monotonic
    seconds, from its ``offer`` to its ``offer_ended``, which must say ``expired``),
    watched until ``until``; one still open then ends at ``until``."""
    spans: list[tuple[str, float, float]] = []
    opened: tuple[str, float] | None = None
    while (left := until - time.monotonic()) > 0:
        try:
            frame = await conn.recv(timeout=left)
        except TimeoutError:
            break
        if isinstance(frame, SOffer):
            assert opened is None, "a second offer while one is open"
            opened = (frame.item.conversation_id, time.monotonic())
        elif isinstance(frame, SOfferEnded):
            assert opened is not None and frame.reason == "expired", frame
            assert frame.conversation_id == opened[0]
            spans.append((*opened, time.monotonic()))
            opened = None
    if opened is not None:
        spans.append((*opened, until))
    return spans


async def test_rounds_on_two_nodes_never_offer_it_twice_at_once(nodes, shared_store):  # noqa: F811
    """Sam on A and Lee on B let every offer expire (1 s). Each node's agent passed,
    each node starts a new round a second later (before: nobody was offered it again
    after one offer each), and the two agents take turns: both are offered it again
    and again, never while the other's offer is open."""
    push = {"mode": "push", "offer_timeout_seconds": 1.0, "reoffer_after_seconds": 1.0}
    a, b = await nodes(assignment=push), await nodes(assignment=push)
    sam = await online_agent(a.url, add_agent(shared_store, "sam"))
    lee = await online_agent(b.url, add_agent(shared_store, "lee"))
    until = time.monotonic() + WATCH
    watching = asyncio.gather(_offer_spans(sam, until), _offer_spans(lee, until))
    visitor, cid, _ = await escalate(b.url)
    sam_spans, lee_spans = await watching
    assert {c for c, _, _ in sam_spans + lee_spans} == {cid}
    sams, lees = [(o, e) for _, o, e in sam_spans], [(o, e) for _, o, e in lee_spans]
    assert len(sams) >= 2 and len(lees) >= 2, (sams, lees)
    for s_open, s_end in sams:
        for l_open, l_end in lees:
            assert s_end <= l_open or l_end <= s_open, f"both open: {sams} {lees}"
    for conn in (visitor, sam, lee):
        await conn.close()
