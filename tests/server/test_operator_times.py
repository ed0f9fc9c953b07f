"""The operator's periods (``since``/``until`` of ``what_if``, ``analytics`` and
``knowledge_gaps``) must carry a UTC offset and convert to UTC: a naive or out-of-range
time is refused with ``invalid_frame`` naming the field, never ``internal`` (real
server, real client)."""

from __future__ import annotations

from typing import Any

import pytest

from handoff_server.protocol import SError
from handoff_server.protocol_operator import SAnalytics, SKnowledgeGaps, SWhatIf
from tests.conftest import create_token
from tests.helpers import agent
from tests.server.test_operator_policy import ask, policy_in_force

BAD_TIMES: list[tuple[str, str, str]] = [
    ("since", "2026-01-01T00:00:00", "needs a UTC offset"),
    ("until", "2026-01-01T12:30:00", "needs a UTC offset"),
    ("since", "0001-01-01T00:00:00+05:00", "out of range"),
    ("until", "9999-12-31T23:59:59-05:00", "out of range"),
]


async def _frames(conn: Any) -> list[dict[str, Any]]:
    policy = (await policy_in_force(conn)).policy
    return [
        {"type": "what_if", "policy": policy},
        {"type": "analytics"},
        {"type": "knowledge_gaps"},
    ]


@pytest.mark.parametrize(("field", "value", "says"), BAD_TIMES)
async def test_a_naive_or_out_of_range_time_is_an_invalid_frame(
    server, field: str, value: str, says: str
) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    for frame in await _frames(op):
        refused = await ask(op, {**frame, field: value})
        assert isinstance(refused, SError), (frame["type"], refused)
        assert refused.code == "invalid_frame", (frame["type"], refused)
        assert refused.detail.startswith(f"{field}: ") and says in refused.detail, refused.detail


async def test_a_period_ending_before_it_starts_is_an_invalid_frame(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    for frame in await _frames(op):
        period = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
        refused = await ask(op, {**frame, **period})
        assert isinstance(refused, SError) and refused.code == "invalid_frame", refused
        assert "since must not be after until" in refused.detail, refused.detail


async def test_times_with_an_offset_are_answered(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    period = {"since": "2026-01-01T00:00:00+14:00", "until": "9999-12-31T23:59:59Z"}
    answers = [await ask(op, {**frame, **period}) for frame in await _frames(op)]
    assert [type(a) for a in answers] == [SWhatIf, SAnalytics, SKnowledgeGaps], answers
    assert answers[1].since is not None and answers[1].since.utcoffset() is not None
