"""An agent whose token stops working (revoked by ``handoff token revoke``, or expired)
leaves the roster at once and is never a transfer target. Real server, real clients;
the revocation is the real CLI on the server's data dir, as an operator runs it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from handoff_server.protocol import APresence, SAck, SError, SStaff
from handoff_server.store import AgentRecord, hash_token, utcnow
from tests.conftest import create_token
from tests.helpers import agent, run_handoff
from tests.server.routing_kit import TEAMS_POLICY, act, escalate, present, visitor_event


async def _staff(conn: Any, ok: Any = lambda staff: True, timeout: float = 5) -> SStaff:
    """The next ``staff`` frame on ``conn`` that ``ok`` accepts."""
    frames = await conn.recv_until(lambda f: isinstance(f, SStaff) and ok(f), timeout=timeout)
    return frames[-1]


def _names(staff: SStaff) -> set[str]:
    return {a.name for a in staff.agents}


async def test_a_revoked_agent_leaves_the_roster_at_once_and_their_conversation_goes_back(
    server_factory: Any, tmp_path: Any
) -> None:
    """After ``handoff token revoke Sam``, Sam stayed on colleagues' rosters ("online",
    a transfer target in the agent app) for the whole grace period (60 s), and the
    conversation Sam held waited for a Sam who could never come back. Now the roster
    is sent again without Sam within the token check, and the conversation is back in
    the queue at once (``requeued``, reason ``token_revoked``)."""
    data = tmp_path / "data"
    srv = await server_factory(
        data_dir=data, policy=TEAMS_POLICY, server={"token_check_seconds": 0.2}
    )
    kim, _, _ = await present(srv, "Kim")
    sam, _, staff = await present(srv, "Sam")
    assert _names(staff) == {"Kim", "Sam"}
    sam_id = next(a.id for a in staff.agents if a.name == "Sam")
    visitor, cid = await escalate(srv.url, "billing")
    assert isinstance(await act(sam, "claim", cid), SAck)

    revoked = await run_handoff("token", "revoke", "Sam", "--data-dir", str(data))
    assert revoked.returncode == 0, revoked.stderr
    assert _names(await _staff(kim, lambda s: "Sam" not in _names(s))) == {"Kim"}
    requeued = await visitor_event(visitor, "requeued", timeout=5)
    assert requeued.data.model_dump() == {
        "notice": (
            "The person helping you was disconnected. Your conversation is back in the queue"
            " in the same place, and the next person available will reply here."
        )
    }

    await kim.send(APresence(type="presence", status="online"))
    assert _names(await _staff(kim)) == {"Kim"}
    refused = await act(kim, "transfer", cid, to_agent=sam_id)
    assert isinstance(refused, SError) and refused.code == "not_found", refused
    assert "token revoked" in refused.detail, refused.detail
    for conn in (kim, sam, visitor):
        await conn.close()


async def _expiring_token(srv: Any, name: str, seconds: float) -> tuple[str, AgentRecord]:
    token = "hnd_test_" + uuid.uuid4().hex
    rec = AgentRecord(
        id="agt_" + uuid.uuid4().hex[:8],
        name=name,
        role="agent",
        token_hash=hash_token(token),
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(seconds=seconds),
    )
    await srv.store.call(srv.store.store.create_agent, rec)
    return token, rec


async def test_a_transfer_to_a_revoked_or_expired_agent_is_refused_before_the_guard_notices(
    server_factory: Any,
) -> None:
    """A transfer's target was checked against presence alone: an agent revoked (or
    whose token expired) but still connected, until the token check closes them, took
    the conversation. The store is read when the transfer is asked: ``not_found``,
    naming why; nothing is stored. The token check is slowed to 30 s here so the
    connections stay open."""
    srv = await server_factory(policy=TEAMS_POLICY, server={"token_check_seconds": 30})
    kim, _, _ = await present(srv, "Kim")
    sam, _, staff = await present(srv, "Sam")
    sam_id = next(a.id for a in staff.agents if a.name == "Sam")
    lee_token, lee = await _expiring_token(srv, "Lee", 3.0)
    lee_conn, _, staff = await present(srv, "Lee", token=lee_token)
    assert _names(staff) == {"Kim", "Lee", "Sam"}
    visitor, cid = await escalate(srv.url, "billing")
    assert isinstance(await act(kim, "claim", cid), SAck)

    await srv.store.call(srv.store.store.revoke_agent, sam_id, utcnow())
    refused = await act(kim, "transfer", cid, to_agent=sam_id)
    assert isinstance(refused, SError) and refused.code == "not_found", refused
    assert "token revoked" in refused.detail, refused.detail

    assert lee.expires_at is not None
    await asyncio.sleep(max(0.0, (lee.expires_at - utcnow()).total_seconds()) + 0.1)
    refused = await act(kim, "transfer", cid, to_agent=lee.id)
    assert isinstance(refused, SError) and refused.code == "not_found", refused
    assert "token expired" in refused.detail, refused.detail

    watcher = await agent(srv.url, await create_token(srv, "Kim 2"))
    await watcher.send(APresence(type="presence", status="online"))
    assert _names(await _staff(watcher)) == {"Kim", "Kim 2"}
    for conn in (kim, sam, lee_conn, visitor, watcher):
        await conn.close()
