"""A ``policy_apply`` retried while the first is still being stored (the same operator
and ``client_msg_id`` on two connections, racing) gets the stored version back, never
``conflict``, and stores one version (real server, real clients)."""

from __future__ import annotations

import asyncio

from handoff_server.protocol_operator import SPolicy, SPolicyHistory
from tests.conftest import create_token
from tests.helpers import agent
from tests.server.test_operator_policy import apply, ask, policy_in_force


async def test_a_retry_racing_the_first_apply_gets_the_same_version(server) -> None:
    token = await create_token(server, "Olga", "operator")
    first, retry = await agent(server.url, token), await agent(server.url, token)
    v = (await policy_in_force(first)).version
    start = v
    for threshold in (0.66, 0.62, 0.58):
        body = {**(await policy_in_force(first)).policy, "threshold": threshold}
        frame = apply(body, v, comment=f"to {threshold}")
        answers = await asyncio.gather(ask(first, frame), ask(retry, frame))
        assert all(isinstance(a, SPolicy) for a in answers), answers
        assert {a.version for a in answers} == {v + 1}, answers
        assert all(a.policy["threshold"] == threshold for a in answers)
        v += 1
    history = await ask(first, {"type": "policy_history"})
    assert isinstance(history, SPolicyHistory)
    assert [h.version for h in history.versions if h.version > start] == [v, v - 1, v - 2]
    assert (await policy_in_force(retry)).version == v
