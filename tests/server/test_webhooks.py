"""Webhooks through a real server to a real HTTP receiver on 127.0.0.1: the outbox,
retries with a stable id, Retry-After, restarts, Standard Webhooks signatures (checked
with the reference verifier and an independent HMAC), filters, Slack bodies and the
refusal of private addresses."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from handoff_server.client import new_client_msg_id
from handoff_server.config import Settings
from handoff_server.protocol import AClaim, AResolve, VRequestHuman
from handoff_server.store import OutboxRow
from handoff_server.webhooks.delivery import in_order
from tests.cli.test_cli_lists import assert_table
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor, wait_ack

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A real HTTP server on 127.0.0.1 in a thread: records every POST and answers with
    the next scripted ``(status, headers)`` (200 once the script is used up)."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Received] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body, time.time())
                )
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    async def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"got {len(self.requests)} of {count}"
            await asyncio.sleep(0.05)
        return self.requests


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def endpoint(url: str, **extra: Any) -> dict[str, Any]:
    return {"endpoints": [{"url": url, "secret": SECRET, "allow_private": True, **extra}]}


async def escalate(url: str, text: str = "I want a person please") -> str:
    visitor, welcome = await start_visitor(url)
    cmid = new_client_msg_id()
    await visitor.send(VRequestHuman(type="request_human", client_msg_id=cmid, text=text))
    await wait_ack(visitor, cmid)
    await visitor.close()
    return welcome.conversation_id


async def act(conn: Any, kind: str, cid: str) -> None:
    cmid = new_client_msg_id()
    frame = {"claim": AClaim, "resolve": AResolve}[kind]
    await conn.send(frame(type=kind, conversation_id=cid, client_msg_id=cmid))
    await wait_ack(conn, cmid)


def hmac_signature(event_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks signature computed here, independently of the library."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


async def test_each_event_is_delivered_once_signed(server_factory, receiver):
    srv = await server_factory(webhooks=endpoint(receiver.url))
    cid = await escalate(srv.url)
    sam = await agent(srv.url, await create_token(srv))
    await act(sam, "claim", cid)
    await act(sam, "resolve", cid)
    got = await receiver.wait_for(3)
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 3
    payloads = [Webhook(SECRET).verify(r.body, r.headers) for r in got]
    assert [p["type"] for p in payloads] == [
        "conversation.escalated",
        "conversation.assigned",
        "conversation.resolved",
    ]
    assert len({p["id"] for p in payloads}) == 3
    assert [r.headers["webhook-id"] for r in got] == [p["id"] for p in payloads]
    escalated, assigned, resolved = payloads
    packet = escalated["data"]["packet"]
    assert packet["conversation_id"] == cid and packet["status"] == "queued"
    assert packet["trigger"]["kind"] == "human_request"
    assert packet["transcript"][-1]["kind"] == "escalated"
    assert assigned["data"] == {"conversation_id": cid, "agent": resolved["data"]["agent"]}
    assert assigned["data"]["agent"]["name"] == "Sam"
    for r in got:
        assert r.headers["webhook-signature"] == hmac_signature(
            r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body
        )


def test_a_changed_byte_or_an_old_timestamp_fails_verification():
    body = b'{"id":"msg_1","type":"conversation.escalated"}'
    now = str(int(time.time()))
    headers = {"webhook-id": "msg_1", "webhook-timestamp": now}
    headers["webhook-signature"] = hmac_signature("msg_1", now, body)
    assert Webhook(SECRET).verify(body, headers)["id"] == "msg_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"escalated", b"escalatee"), headers)
    old = str(int(time.time()) - 600)
    stale = {
        **headers,
        "webhook-timestamp": old,
        "webhook-signature": hmac_signature("msg_1", old, body),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(body, stale)


async def test_three_failures_then_success_same_id_fresh_signature(server_factory, receiver):
    # Retry-After (delta seconds, then an HTTP date) puts each try in a later second,
    # so each signature is made anew; the schedule alone would retry within 50 ms. The
    # date lies past the first two tries (about 2 s after the start).
    date = email.utils.formatdate(time.time() + 6, usegmt=True)
    receiver.script = [
        (500, {"Retry-After": "1"}),
        (500, {"Retry-After": "1"}),
        (503, {"Retry-After": date}),
    ]
    srv = await server_factory(
        webhooks={**endpoint(receiver.url), "retry_schedule_seconds": [0.05] * 5}
    )
    await escalate(srv.url)
    got = await receiver.wait_for(4)
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 4
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.headers["webhook-signature"] for r in got}) == 4
    stamps = [int(r.headers["webhook-timestamp"]) for r in got]
    assert stamps == sorted(set(stamps))
    gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
    assert min(gaps) >= 0.95, gaps
    for r in got:
        Webhook(SECRET).verify(r.body, r.headers)
    (row,) = await srv.store.call(srv.store.store.list_outbox)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 4, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_row(srv: Any, ok: Any, timeout: float = 10) -> OutboxRow:
    deadline = time.monotonic() + timeout
    while True:
        rows = await srv.store.call(srv.store.store.list_outbox)
        if rows and ok(rows[0]):
            return rows[0]
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def test_a_receiver_down_across_a_restart_gets_the_event(server_factory, tmp_path: Path):
    port = free_port()
    hooks = {**endpoint(f"http://127.0.0.1:{port}/hook"), "retry_schedule_seconds": [0.2] * 20}
    first = await server_factory(data_dir=tmp_path / "d", webhooks=hooks)
    cid = await escalate(first.url)
    row = await wait_row(first, lambda r: r.attempts >= 1)
    assert row.status == "pending" and "ConnectError" in (row.last_error or "")
    await first.close()
    receiver = Receiver(port)
    try:
        second = await server_factory(data_dir=tmp_path / "d", webhooks=hooks)
        (got,) = await receiver.wait_for(1)
        payload = Webhook(SECRET).verify(got.body, got.headers)
        assert payload["id"] == row.id and payload["data"]["conversation_id"] == cid
        await wait_row(second, lambda r: r.status == "delivered")
    finally:
        receiver.close()


async def test_a_private_address_is_refused_without_allow_private(server_factory, receiver):
    srv = await server_factory(webhooks=endpoint(receiver.url, allow_private=False))
    await escalate(srv.url)
    row = await wait_row(srv, lambda r: r.status == "failed")
    assert row.last_error is not None
    assert "refused: 127.0.0.1 resolves to 127.0.0.1" in row.last_error
    assert "allow_private" in row.last_error
    await asyncio.sleep(0.3)
    assert receiver.requests == []


async def test_the_address_checked_is_the_address_called(server_factory, receiver, monkeypatch):
    """The private-address check resolved the host, then httpx resolved it again to
    connect: a host whose DNS answers a public address to the check and a private one
    to the connection (DNS rebinding) reached the private one. A try now resolves once
    and connects to the address it checked, sending the host as ``Host`` (and, for
    https, as the TLS server name). Here the name answers 127.0.0.1 once, then an
    unroutable address (192.0.2.1, TEST-NET-1): the event must reach the receiver on
    127.0.0.1, with the name as its ``Host``."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        answers.append("127.0.0.1" if not answers else "192.0.2.1")
        return real(answers[-1], port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://rebind.test:{port}/hook"
    srv = await server_factory(webhooks={**endpoint(url), "timeout_seconds": 2.0})
    await escalate(srv.url)
    (got,) = await receiver.wait_for(1)
    assert got.headers["host"] == f"rebind.test:{port}"
    Webhook(SECRET).verify(got.body, got.headers)
    row = await wait_row(srv, lambda r: r.status == "delivered")
    assert row.attempts == 1 and answers == ["127.0.0.1"]


async def test_slack_body_escapes_visitor_text_and_the_filter_holds(server_factory, receiver):
    hooks = endpoint(receiver.url, format="slack", events=["conversation.escalated"])
    srv = await server_factory(webhooks=hooks)
    cid = await escalate(srv.url, "<!channel> & <http://evil|click> now")
    sam = await agent(srv.url, await create_token(srv))
    await act(sam, "claim", cid)
    (got,) = await receiver.wait_for(1)
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 1
    body = json.loads(Webhook(SECRET).verify(got.body, got.headers, json_parse=False) or got.body)
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt; now" in body["text"]
    assert "<" not in body["text"] and body["blocks"][0]["text"]["text"] == body["text"]


@pytest.mark.parametrize(
    ("endpoint_cfg", "needle"),
    [
        ({"url": "http://x.example", "secret": "abc"}, "whsec_"),
        ({"url": "http://x.example", "secret": "whsec_!!!"}, "whsec_"),
        (
            {"url": "http://x.example", "secret": "whsec_" + base64.b64encode(b"short").decode()},
            "16 bytes",
        ),
        ({"url": "ftp://x.example", "secret": SECRET}, "url"),
        ({"url": "http://x.example", "secret": SECRET, "events": ["conversation.bogus"]}, "events"),
        ({"url": "http://x.example", "secret": SECRET, "format": "teams"}, "format"),
    ],
)
def test_bad_endpoint_config_is_refused(endpoint_cfg, needle):
    with pytest.raises(ValueError, match=needle):
        Settings(webhooks={"endpoints": [endpoint_cfg]})


async def test_operator_lists_a_failed_delivery_and_redelivers_it(
    server_factory, receiver, tmp_path: Path
):
    data = tmp_path / "d"
    refused = await server_factory(
        data_dir=data, webhooks=endpoint(receiver.url, allow_private=False)
    )
    await escalate(refused.url)
    row = await wait_row(refused, lambda r: r.status == "failed")
    await refused.close()
    listed = await run_handoff("webhooks", "list", "--failed", "--json", "--data-dir", str(data))
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)
    assert (item["id"], item["status"], item["event_type"]) == (
        row.id,
        "failed",
        "conversation.escalated",
    )
    text = await run_handoff("webhooks", "list", "--data-dir", str(data))
    # A header row, then the delivery in aligned columns (there was no header).
    assert_table(
        text.stdout,
        ["id", "event", "status", "tries", "endpoint", "error"],
        [[row.id, "conversation.escalated", "failed", "1", receiver.url, "refused: "]],
    )
    unknown = await run_handoff("webhooks", "redeliver", "msg_nope", "--data-dir", str(data))
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "error[not_found]: no undelivered webhook event 'msg_nope'"
        " (--all sends a delivered one again)",
    )
    again = await run_handoff("webhooks", "redeliver", row.id, "--data-dir", str(data))
    assert again.stdout.strip() == f"{row.id}: 1 delivery queued again"
    # Allowed now: the restarted server posts the redelivered event.
    allowed = await server_factory(data_dir=data, webhooks=endpoint(receiver.url))
    (got,) = await receiver.wait_for(1)
    assert Webhook(SECRET).verify(got.body, got.headers)["id"] == row.id
    await wait_row(allowed, lambda r: r.status == "delivered")
    empty = await run_handoff("webhooks", "list", "--failed", "--data-dir", str(data))
    assert empty.stdout.strip() == "no failed deliveries"
    # Delivered: sent again only on purpose (it re-sent delivered ones by default).
    twice = await run_handoff("webhooks", "redeliver", row.id, "--data-dir", str(data))
    assert twice.returncode == 2 and "no undelivered webhook event" in twice.stderr
    anyway = await run_handoff("webhooks", "redeliver", row.id, "--all", "--data-dir", str(data))
    assert anyway.stdout.strip() == f"{row.id}: 1 delivery queued again"


def test_one_conversations_deliveries_go_out_in_order() -> None:
    """Due rows are sent concurrently across conversations but one after another within
    a conversation and endpoint, so a receiver never sees ``resolved`` before
    ``assigned`` (the group commit makes them due in the same round)."""
    now = datetime.now(UTC)

    def row(n: int, cid: str, kind: str, url: str = "http://a.example/hook") -> OutboxRow:
        data = (
            {"packet": {"conversation_id": cid}}
            if kind == "escalated"
            else {"conversation_id": cid}
        )
        payload = {"id": f"msg_{n}", "type": f"conversation.{kind}", "data": data}
        return OutboxRow(id=f"msg_{n}", endpoint=url, event_type=f"conversation.{kind}",
                         payload=payload, created_at=now, next_attempt_at=now)  # fmt: skip

    rows = [row(1, "c1", "escalated"), row(2, "c2", "escalated"), row(3, "c1", "assigned"),
            row(4, "c1", "resolved"), row(5, "c1", "resolved", "http://b.example/hook")]  # fmt: skip
    groups = [[r.id for r in g] for g in in_order(rows)]
    assert groups == [["msg_1", "msg_3", "msg_4"], ["msg_2"], ["msg_5"]]


async def test_the_escalated_payload_carries_the_visitors_question(server_factory, receiver):
    """``data.question`` is the visitor's question (docs/webhooks.md), ``""`` for a
    request for a person: it was the stored event's flag saying whether there was one
    (``true``), and the Slack line ended in "True"."""
    hooks = endpoint(receiver.url, events=["conversation.escalated"])
    srv = await server_factory(webhooks=hooks)
    visitor, _ = await start_visitor(srv.url)
    asked = "I want to cancel my account right now"
    assert events(await say(visitor, asked), "escalated")
    await visitor.close()
    await escalate(srv.url)  # a request for a person
    first, second = await receiver.wait_for(2)
    payloads = [Webhook(SECRET).verify(r.body, r.headers) for r in (first, second)]
    # Two conversations: their deliveries may arrive in either order.
    assert sorted(p["data"]["question"] for p in payloads) == ["", asked]


async def test_the_slack_line_ends_with_the_visitors_question(server_factory, receiver):
    hooks = endpoint(receiver.url, format="slack", events=["conversation.escalated"])
    srv = await server_factory(webhooks=hooks)
    visitor, _ = await start_visitor(srv.url)
    assert events(await say(visitor, "I want to cancel my account right now"), "escalated")
    await visitor.close()
    (got,) = await receiver.wait_for(1)
    text = json.loads(got.body)["text"]
    assert text.endswith("): I want to cancel my account right now"), text
