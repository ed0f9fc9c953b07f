"""Helpers for the routing tests: escalating visitors to a team, agents who say their
presence, and actions answered by an ack or an error. Real server, real clients."""

from __future__ import annotations

import asyncio
from typing import Any

from handoff_server.app import RunningServer
from handoff_server.client import Connection, new_client_msg_id
from handoff_server.protocol import (
    APresence,
    SAck,
    SError,
    SEvent,
    SOffer,
    SOfferEnded,
    SStaff,
    SWaitEstimate,
    VRequestHuman,
)
from tests.conftest import ServerFactory, create_token
from tests.helpers import agent, events, say, start_visitor

TEAM_TEXT = {
    "billing": "I want to cancel account",
    "security": "we had a data breach",
    None: "what's a good recipe for sourdough bread",
}
"""A visitor message that escalates to each team (``None``: no team) under
:data:`TEAMS_POLICY`."""

TEAMS_POLICY: dict[str, Any] = {
    "keyword": {
        "phrases": ["cancel account", "data breach"],
        "teams": {"cancel account": "billing", "data breach": "security"},
    }
}
"""Keywords routing to billing and security."""


async def routing_server(
    server_factory: ServerFactory, server: dict[str, Any] | None = None, **assignment: Any
) -> RunningServer:
    """A real server with :data:`TEAMS_POLICY`, ``[assignment]`` settings (short
    time-outs in tests) and ``[server]`` settings."""
    return await server_factory(policy=TEAMS_POLICY, assignment=assignment, server=server or {})


async def escalate(
    url: str, team: str | None = "billing", name: str = "Ada"
) -> tuple[Connection, str]:
    """A visitor whose message escalates to ``team``; returns the connection (still
    open) and the conversation id."""
    conn, welcome = await start_visitor(url, name=name)
    (esc,) = events(await say(conn, TEAM_TEXT[team]), "escalated")
    assert esc.data.model_dump().get("trigger") is not None
    return conn, welcome.conversation_id


async def present(
    srv: RunningServer,
    name: str,
    *,
    teams: list[str] | None = None,
    capacity: int | None = None,
    status: str = "online",
    token: str | None = None,
) -> tuple[Connection, str, SStaff]:
    """An agent (created unless ``token`` is given) connected and saying ``status``;
    returns the connection, the token and the ``staff`` answer."""
    token = token or await create_token(srv, name, teams=teams, capacity=capacity)
    conn = await agent(srv.url, token)
    await conn.send(APresence(type="presence", status=status))
    frames = await conn.recv_until(lambda f: isinstance(f, SStaff))
    return conn, token, frames[-1]


async def act(conn: Connection, kind: str, cid: str, **fields: Any) -> SAck | SError:
    """Send the agent frame ``kind`` (``claim``, ``transfer``, ``accept``...) on ``cid``
    as JSON, as any client would, and return its ack or error."""
    cmid = new_client_msg_id()
    await conn.send({"type": kind, "conversation_id": cid, "client_msg_id": cmid, **fields})
    frames = await conn.recv_until(
        lambda f: isinstance(f, SAck | SError) and f.client_msg_id == cmid, timeout=10
    )
    return frames[-1]


async def next_offer(conn: Connection, timeout: float = 10) -> SOffer:
    """The next ``offer`` frame on ``conn``."""
    frames = await conn.recv_until(lambda f: isinstance(f, SOffer), timeout=timeout)
    return frames[-1]


async def first_offer(conns: dict[str, Connection]) -> str:
    """The name of whichever of ``conns`` (name → connection) gets an offer first."""
    tasks = {asyncio.ensure_future(next_offer(c)): name for name, c in conns.items()}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return tasks[done.pop()]


async def offer_ended(conn: Connection, timeout: float = 10) -> SOfferEnded:
    """The next ``offer_ended`` frame on ``conn``."""
    frames = await conn.recv_until(lambda f: isinstance(f, SOfferEnded), timeout=timeout)
    return frames[-1]


async def visitor_event(conn: Connection, kind: str, timeout: float = 10) -> Any:
    """The next event of ``kind`` a visitor receives."""
    frames = await conn.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == kind, timeout=timeout
    )
    return frames[-1].event


async def push_pair_asked(
    server_factory: ServerFactory, **assignment: Any
) -> tuple[RunningServer, dict[str, Connection], Connection, str]:
    """A push server (two slots an agent, 60 s offers, a 600 s estimate refresh; more
    ``[assignment]`` settings in ``assignment``) with Kim and Lee online and the visitor
    Dee, who asked for a person and was told "under a minute": the server, the agents
    by name, Dee's connection and the conversation id."""
    srv = await server_factory(
        policy=TEAMS_POLICY,
        assignment={
            "mode": "push",
            "default_capacity": 2,
            "offer_timeout_seconds": 60,
            **assignment,
        },
        waiting={"refresh_seconds": 600, "default_handling_seconds": 600},
    )
    kim, _, _ = await present(srv, "Kim")
    lee, _, _ = await present(srv, "Lee")
    visitor, welcome = await start_visitor(srv.url, name="Dee")
    await visitor.send(
        VRequestHuman(type="request_human", client_msg_id=new_client_msg_id(), text="a person")
    )
    told = (await visitor.recv_until(lambda f: isinstance(f, SWaitEstimate)))[-1]
    assert told.minutes == 0 and "under a minute" in told.text
    return srv, {"Kim": kim, "Lee": lee}, visitor, welcome.conversation_id
