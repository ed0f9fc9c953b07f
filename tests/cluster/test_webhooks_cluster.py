"""Three nodes, one outbox (see conftest): every webhook reaches a real local receiver
once, and one conversation's in the order its events happened, whichever node stored
them and whichever node posts them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AClaim, AResolve, VRequestHuman
from tests.cluster.conftest import add_agent
from tests.helpers import agent, start_visitor, wait_ack

CONVERSATIONS = 100
WORKERS = 5
ORDER = ["conversation.escalated", "conversation.assigned", "conversation.resolved"]


class SlowReceiver:
    """A real HTTP server on 127.0.0.1 in a thread that records each POST as it arrives
    (its ``webhook-id`` and body) and answers 200 after ``delay`` seconds: a row stays
    pending while it is posted, which is when another node could take it too."""

    def __init__(self, delay: float) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        lock = threading.Lock()
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                with lock:
                    posts.append((self.headers["webhook-id"], json.loads(body)))
                time.sleep(delay)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The stdlib's listen backlog is 5: three nodes posting up to 50 rows each
            # at once overflowed it, refused connections were retried later, and a
            # retried delivery may rightly arrive after its conversation's later ones
            # (docs/webhooks.md, "Order"). A real receiver listens with a deeper queue.
            request_queue_size = 512

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = SlowReceiver(delay=0.1)
    yield r
    r.close()


async def _lifecycle(visitor_url: str, desk: Any) -> str:
    """A visitor on ``visitor_url`` asks for a person; the agent ``desk`` (on another
    node) claims and resolves: three webhooks. Returns the conversation id."""
    visitor, welcome = await start_visitor(visitor_url)
    cmid = new_client_msg_id()
    await visitor.send(VRequestHuman(type="request_human", client_msg_id=cmid, text="a person"))
    await wait_ack(visitor, cmid)
    await visitor.close()
    cid = welcome.conversation_id
    for kind, frame in (("claim", AClaim), ("resolve", AResolve)):
        cmid = new_client_msg_id()
        await desk.send(frame(type=kind, conversation_id=cid, client_msg_id=cmid))
        await wait_ack(desk, cmid)
    return cid


async def test_each_webhook_is_posted_once_and_in_order_by_three_nodes(
    cluster, shared_store, receiver
):
    urls = [cluster(False, "--webhook", receiver.url)[1] for _ in range(3)]
    desks = [
        await agent(urls[(w + 1) % 3], add_agent(shared_store, f"agent{w}")) for w in range(WORKERS)
    ]

    async def worker(w: int) -> list[str]:
        return [await _lifecycle(urls[i % 3], desks[w]) for i in range(w, CONVERSATIONS, WORKERS)]

    cids = [cid for part in await asyncio.gather(*map(worker, range(WORKERS))) for cid in part]
    expected = CONVERSATIONS * len(ORDER)
    deadline = time.monotonic() + 60
    while len({wid for wid, _ in receiver.posts}) < expected:
        assert time.monotonic() < deadline, f"{len(receiver.posts)} posts of {expected}"
        await asyncio.sleep(0.2)
    await asyncio.sleep(7)  # longer than a node's look at the outbox: late doubles show

    twice = [wid for wid, n in Counter(wid for wid, _ in receiver.posts).items() if n > 1]
    assert twice == [], f"{len(twice)} webhooks posted more than once"
    assert len(receiver.posts) == expected
    seen: dict[str, list[str]] = {cid: [] for cid in cids}
    for _, body in receiver.posts:
        data = body["data"]
        seen[data.get("conversation_id") or data["packet"]["conversation_id"]].append(body["type"])
    assert {cid: kinds for cid, kinds in seen.items() if kinds != ORDER} == {}
    for conn in desks:
        await conn.close()
