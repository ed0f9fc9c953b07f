"""``policy_history`` comes in pages cut by bytes: 50 large versions no longer make one
frame over the client's limit (which closed the operator's connection and locked them
out of the policy screen); the operator follows ``more`` with ``before`` and gets every
version once, newest first (real server, real client)."""

from __future__ import annotations

import json
from typing import Any

from handoff_server.protocol_operator import SPolicyHistory
from handoff_server.store import PolicyMeta
from tests.conftest import create_token
from tests.helpers import agent
from tests.server.test_operator_policy import ask, policy_in_force

CLIENT_MAX_FRAME = 2**20
"""The websockets client's default ``max_size`` (1 MiB), which the product's clients use."""


def big_policy(body: dict[str, Any], n: int) -> dict[str, Any]:
    """``body`` with about 25 KiB of keyword phrases, different for each ``n``."""
    extra = [f"phrase {n} number {i} " + "x" * 30 for i in range(500)]
    return {
        **body,
        "keyword": {**body["keyword"], "phrases": [*body["keyword"]["phrases"], *extra]},
    }


async def store_big_versions(srv: Any, body: dict[str, Any], count: int) -> int:
    """Store ``count`` large versions after the newest (as ``handoff policy import``
    does, straight into the store); returns the newest version."""
    s = srv.store.store
    version = await srv.store.call(s.latest_policy_version)
    for n in range(count):
        record = await srv.store.call(
            s.apply_policy, big_policy(body, n), "Olga", version, PolicyMeta(comment=f"big {n}")
        )
        assert record is not None
        version = record.version
    return version


async def read_all_pages(conn: Any, limit: int | None = None) -> list[SPolicyHistory]:
    pages: list[SPolicyHistory] = []
    frame: dict[str, Any] = {"type": "policy_history"}
    if limit is not None:
        frame["limit"] = limit
    while True:
        page = await ask(conn, frame)
        assert isinstance(page, SPolicyHistory), page
        size = len(page.model_dump_json().encode())
        assert size < CLIENT_MAX_FRAME // 2, size
        pages.append(page)
        if not page.more:
            return pages
        frame = {**frame, "before": page.versions[-1].version}


async def test_a_long_history_of_large_versions_comes_in_pages(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    body = (await policy_in_force(op)).policy
    newest = await store_big_versions(server, body, 50)
    pages = await read_all_pages(op, limit=500)
    assert len(pages) > 2
    got = [v.version for page in pages for v in page.versions]
    assert got == list(range(newest, 0, -1))
    assert all(page.versions for page in pages)
    last = pages[-1].versions[-1]
    assert last.version == 1 and last.changes  # the first version lists every setting
    one = pages[0].versions[0]
    assert one.comment == "big 49"
    (change,) = [c for c in one.changes if c.path == "keyword.phrases"]
    assert isinstance(change.after, list) and "phrase 49 number 0 " + "x" * 30 in change.after
    assert json.dumps(change.before).count("phrase 48 number") == 500


async def test_limit_and_before_pick_the_page(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    body = (await policy_in_force(op)).policy
    newest = await store_big_versions(server, body, 4)
    page = await ask(op, {"type": "policy_history", "limit": 2, "before": newest})
    assert isinstance(page, SPolicyHistory)
    assert [v.version for v in page.versions] == [newest - 1, newest - 2] and page.more
    page = await ask(op, {"type": "policy_history", "before": 2})
    assert [v.version for v in page.versions] == [1] and not page.more
