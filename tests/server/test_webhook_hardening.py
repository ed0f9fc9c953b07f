"""Webhook delivery against hostile or broken receivers, through a real server to real
HTTP receivers on 127.0.0.1: one try has one overall deadline, a slow receiver holds up
only its own deliveries, an answer's body is read only in part, an unforeseen error is a
counted failed try, and an unreadable ``Retry-After`` is ignored. (Settings that would
stop delivery: ``test_webhook_config.py``.)"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import create_token
from tests.helpers import agent
from tests.server.test_webhooks import (  # noqa: F401 (receiver: a fixture)
    SECRET,
    act,
    endpoint,
    escalate,
    receiver,
    wait_row,
)

Answer = Callable[[BaseHTTPRequestHandler, threading.Event], None]
"""Writes one raw HTTP answer to the handler's ``wfile``; the event is set when the
receiver closes (an answer that goes on for ever stops then)."""


class RawReceiver:
    """A real HTTP server on 127.0.0.1 in a thread whose answers are written byte by
    byte by the test (``answers``, one per request in turn; then a plain 200), for
    answers ``http.server`` will not make: a trickled or huge body, raw header bytes.
    Records each request's payload (verified) and the time it came."""

    def __init__(self, answers: list[Answer]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.closing = threading.Event()
        raw = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                raw.payloads.append(Webhook(SECRET).verify(body, headers))
                raw.times.append(time.monotonic())
                answer = answers.pop(0) if answers else ok
                try:
                    answer(self, raw.closing)
                except OSError:  # the deliverer hung up: what some tests want
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    async def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.payloads) < count:
            assert time.monotonic() < deadline, f"got {len(self.payloads)} of {count}"
            await asyncio.sleep(0.05)
        return self.payloads


def ok(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")


@pytest.fixture
def raw_receiver() -> Iterator[Callable[[list[Answer]], RawReceiver]]:
    made: list[RawReceiver] = []

    def make(answers: list[Answer]) -> RawReceiver:
        made.append(RawReceiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


# One try has one deadline.


def trickle(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
    """A 200 whose 100,000-byte body comes one byte every 0.2 s (each read well inside
    httpx's per-read time-out)."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
    handler.wfile.flush()
    while not closing.wait(0.2):
        handler.wfile.write(b"x")
        handler.wfile.flush()


async def test_a_trickling_receiver_times_out_as_one_failed_try(server_factory, raw_receiver):
    slow = raw_receiver([trickle, trickle])
    hooks = {**endpoint(slow.url), "timeout_seconds": 1.0, "retry_schedule_seconds": [0.05]}
    srv = await server_factory(webhooks=hooks)
    await escalate(srv.url)
    # Each try ends at its deadline; the second is the schedule's last.
    row = await wait_row(srv, lambda r: r.status != "pending", timeout=8)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        2,
        "no answer within 1 s (timeout_seconds) (gave up after 2 tries)",
    )
    first, second = slow.times
    assert 0.9 <= second - first < 3.0


# A slow receiver holds up only its own deliveries.


async def test_a_stalled_receiver_does_not_hold_back_another(
    server_factory,
    raw_receiver,
    receiver,  # noqa: F811
):
    release = threading.Event()

    def stall(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
        while not (release.wait(0.05) or closing.is_set()):
            pass
        ok(handler, closing)

    slow = raw_receiver([stall])
    hooks = {
        "endpoints": [
            {"url": slow.url, "secret": SECRET, "allow_private": True},
            {"url": receiver.url, "secret": SECRET, "allow_private": True},
        ],
        "timeout_seconds": 30.0,
    }
    srv = await server_factory(webhooks=hooks)
    first = await escalate(srv.url)
    await slow.wait_for(1)  # and holds it
    second = await escalate(srv.url)
    sam = await agent(srv.url, await create_token(srv))
    await act(sam, "claim", first)
    got = await receiver.wait_for(3, timeout=8)  # on main: after the 30 s time-out
    seen = [Webhook(SECRET).verify(r.body, r.headers) for r in got]
    assert {(p["type"], p["data"]["conversation_id"]) for p in seen} == {
        ("conversation.escalated", first),
        ("conversation.escalated", second),
        ("conversation.assigned", first),
    }
    # The same receiver gets the other conversation's event while it holds the first;
    # the first conversation's next event waits for the one held.
    await slow.wait_for(2)
    await asyncio.sleep(0.3)
    assert [(p["type"], p["data"]["conversation_id"]) for p in slow.payloads] == [
        ("conversation.escalated", first),
        ("conversation.escalated", second),
    ]
    release.set()
    # The stalled receiver gets the rest, one conversation's events in their order.
    posted = await slow.wait_for(3)
    of_first = [p["type"] for p in posted if p["data"]["conversation_id"] == first]
    assert of_first == ["conversation.escalated", "conversation.assigned"]
    await sam.close()


# Only the start of an answer is read.

BIG = 64 * 1024 * 1024


async def test_a_huge_answer_is_not_read(server_factory, raw_receiver):
    sent: list[int] = []

    def flood(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
        handler.wfile.write(b"HTTP/1.1 500 Oops\r\ncontent-length: %d\r\n\r\n" % BIG)
        count = 0
        chunk = b"x" * 65536
        try:
            while count < BIG and not closing.is_set():
                handler.wfile.write(chunk[: BIG - count])
                count += len(chunk[: BIG - count])
        finally:
            sent.append(count)

    flooding = raw_receiver([flood])
    hooks = {**endpoint(flooding.url), "retry_schedule_seconds": [0.05] * 3}
    srv = await server_factory(webhooks=hooks)
    await escalate(srv.url)
    row = await wait_row(srv, lambda r: r.status == "delivered")
    assert row.attempts == 2
    # The deliverer hung up after the first few KiB (what is sent past them sat in
    # socket buffers); it read all 64 MiB into memory before.
    assert len(sent) == 1 and sent[0] < BIG // 8, sent
    assert len(flooding.payloads) == 2


async def test_a_failed_answer_keeps_a_short_clean_excerpt(server_factory, raw_receiver):
    def refuse(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
        body = b"bad \x1b[31msignature\r\n" + b"y" * 100_000
        head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: %d\r\n\r\n" % len(body)
        handler.wfile.write(head + body)

    refusing = raw_receiver([refuse, refuse])
    hooks = {**endpoint(refusing.url), "retry_schedule_seconds": [0.05]}
    srv = await server_factory(webhooks=hooks)
    await escalate(srv.url)
    row = await wait_row(srv, lambda r: r.status == "failed")
    # Control characters become spaces, runs of spaces one; 200 characters at most.
    said = "HTTP 400: " + ("bad [31msignature " + "y" * 200)[:200]
    assert row.last_error == said + " (gave up after 2 tries)"


# An unforeseen error is one failed try, never the end of delivery.


async def test_an_unexpected_error_is_a_counted_try(server_factory, receiver, monkeypatch):  # noqa: F811
    # A fault in signing stands in for any error nobody foresaw (it used to escape the
    # row: the row stayed claimed with 0 tries and was tried again for ever).
    import handoff_server.webhooks.bodies as bodies

    real = bodies.Webhook
    faults = [RuntimeError("signing broke"), RuntimeError("signing broke")]

    class Flaky(real):  # type: ignore[misc, valid-type]
        def sign(self, *args: Any) -> str:
            if faults:
                raise faults.pop()
            return str(super().sign(*args))

    monkeypatch.setattr(bodies, "Webhook", Flaky)
    hooks = {**endpoint(receiver.url), "retry_schedule_seconds": [0.05]}
    srv = await server_factory(webhooks=hooks)
    await escalate(srv.url)
    # Two tries, each counted, then failed like any delivery past its schedule.
    row = await wait_row(srv, lambda r: r.status != "pending", timeout=5)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        2,
        "RuntimeError: signing broke (gave up after 2 tries)",
    )
    # The deliverer goes on with later events.
    second = await escalate(srv.url)
    (got,) = await receiver.wait_for(1)
    assert Webhook(SECRET).verify(got.body, got.headers)["data"]["conversation_id"] == second


# Retry-After: ASCII digits or a date; anything else is ignored.


def retry_after(value: bytes) -> Answer:
    def answer(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
        handler.wfile.write(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: "
            + value
            + b"\r\n\r\n"
        )

    return answer


@pytest.mark.parametrize("value", ["²", "٣", "1٣", "soon"])
async def test_an_unreadable_retry_after_is_ignored(server_factory, raw_receiver, value: str):
    flaky = raw_receiver([retry_after(value.encode())])
    srv = await server_factory(
        webhooks={**endpoint(flaky.url), "retry_schedule_seconds": [0.05] * 3}
    )
    await escalate(srv.url)
    row = await wait_row(srv, lambda r: r.status == "delivered", timeout=5)
    assert row.attempts == 2
    first, second = flaky.times
    assert second - first < 2.5  # not 3 s for "٣", nor 13 s for "1٣"


async def test_a_retry_after_date_without_a_zone_counts_as_utc(server_factory, raw_receiver):
    # email.utils.formatdate()'s own form ends "-0000"; it was read as a naive date
    # and the subtraction from an aware one raised.
    # The date is made when the first try arrives (1-2 s ahead, formatdate keeping whole
    # seconds): made before the server started, a slow machine had used most of it up.
    dates: list[str] = []

    def answer(handler: BaseHTTPRequestHandler, closing: threading.Event) -> None:
        dates.append(email.utils.formatdate(time.time() + 2))
        retry_after(dates[-1].encode())(handler, closing)

    flaky = raw_receiver([answer])
    srv = await server_factory(
        webhooks={**endpoint(flaky.url), "retry_schedule_seconds": [0.05] * 3}
    )
    await escalate(srv.url)
    row = await wait_row(srv, lambda r: r.status == "delivered", timeout=10)
    assert row.attempts == 2 and dates[0].endswith("-0000")
    first, second = flaky.times
    assert second - first >= 0.9
