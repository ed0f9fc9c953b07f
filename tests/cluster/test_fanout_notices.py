"""A lost or repeated notice never loses or doubles an event: two in-process nodes on
one PostgreSQL schema, joined by a bus that delivers every notice twice, late and out of
order, and drops every third one."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from handoff_server.app import start_server
from handoff_server.client import new_client_msg_id
from handoff_server.cluster import node as node_module
from handoff_server.cluster.bus import Handler, Live, LiveHandler, Notice
from handoff_server.protocol import AClaim, AReply, SEvent, VMessage
from tests.cluster.conftest import add_agent
from tests.conftest import make_settings
from tests.helpers import agent, say, start_visitor, wait_ack


class FlakyBus:
    """Rings every other node of the same :class:`FlakyWire`: twice, late, out of order,
    except every third notice, which it drops."""

    def __init__(self, wire: FlakyWire) -> None:
        self.node = f"n{len(wire.buses)}"
        self.wire = wire
        self.handler: Handler | None = None
        wire.buses.append(self)

    async def start(self, on_notice: Handler, on_live: LiveHandler | None = None) -> None:
        self.handler = on_notice

    def shout(self, live: Live) -> None:
        pass

    def ring(self, notice: Notice) -> None:
        if next(self.wire.count) % 3 == 2:
            return
        for bus in self.wire.buses:
            if bus is not self and bus.handler is not None:
                for delay in (0.05, 0.01):
                    asyncio.get_running_loop().call_later(
                        delay, lambda h=bus.handler: asyncio.ensure_future(h(notice))
                    )

    @property
    def ready(self) -> bool:
        return True

    async def close(self) -> None:
        self.handler = None


class FlakyWire:
    def __init__(self) -> None:
        self.buses: list[FlakyBus] = []
        self.count = itertools.count()


async def test_flaky_notices_neither_lose_nor_double_events(
    pg_schema_url, shared_store, tmp_path, demo_answerer, monkeypatch: pytest.MonkeyPatch
):
    wire = FlakyWire()
    monkeypatch.setattr(node_module, "InProcessBus", lambda: FlakyBus(wire))
    nodes = []
    for i in range(2):
        settings = make_settings(
            tmp_path / f"n{i}",
            store={"url": pg_schema_url},
            cluster={"catch_up_seconds": 0.5},
            server={"rate_limit_per_minute": 100_000},
        )
        nodes.append(await start_server(settings, answerer=demo_answerer))
    a, b = nodes
    try:
        token = add_agent(shared_store, "sam")
        visitor, welcome = await start_visitor(a.url, name="Ada")
        cid = welcome.conversation_id
        await say(visitor, "I need to talk to a real person")
        sam = await agent(b.url, token)
        claim = new_client_msg_id()
        await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
        await wait_ack(sam, claim)
        for i in range(30):
            cmid = new_client_msg_id()
            await sam.send(
                AReply(type="reply", conversation_id=cid, client_msg_id=cmid, text=f"r{i}")
            )
            await wait_ack(sam, cmid)
        # Then both sides at once: the visitor's node stores its own message while the
        # notice of the agent's reply just before it is still on its way.
        for i in range(30, 40):
            cmid = new_client_msg_id()
            await sam.send(
                AReply(type="reply", conversation_id=cid, client_msg_id=cmid, text=f"r{i}")
            )
            await wait_ack(sam, cmid)
            mine = new_client_msg_id()
            await visitor.send(VMessage(type="message", client_msg_id=mine, text=f"v{i}"))
        frames = await visitor.recv_until(
            lambda f: isinstance(f, SEvent) and getattr(f.event.data, "text", None) == "v39", 15
        )
        await asyncio.sleep(1.5)  # late duplicates and catch-ups have run by now
        while True:
            try:
                frames.append(await visitor.recv(timeout=0.2))
            except TimeoutError:
                break
        replies = [
            f.event.data.text
            for f in frames
            if isinstance(f, SEvent) and f.event.kind == "agent_message"
        ]
        assert replies == [f"r{i}" for i in range(40)]
        seqs = [f.event.seq for f in frames if isinstance(f, SEvent)]
        assert seqs == sorted(set(seqs)), "an event arrived twice or out of order"
        await visitor.close()
        await sam.close()
    finally:
        for n in nodes:
            await n.close()
