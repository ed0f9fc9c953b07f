"""Reads that take several frames, for every client of the product: the whole queue and
a whole transcript, whatever their size.

The server answers ``subscribe_queue`` with one ``queue`` frame holding the first rows
and ``more`` (the count of rows that follow at once as ``queue_item`` frames), and
``open`` with a handoff packet whose transcript is one page (``more`` when it stops
before ``last_seq``): :func:`read_queue` and :func:`read_packet` put them together.
Older servers send everything in one frame; both work with them unchanged.

Errors: :class:`~handoff_server.errors.WireError` with the server's code when it
refuses; ``TimeoutError`` after ``timeout`` seconds without the answer;
``websockets.exceptions.ConnectionClosed`` when the connection ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from handoff_server.client import Connection, backoff_delay
from handoff_server.errors import WireError
from handoff_server.protocol import (
    DEFAULT_QUEUE_STATUSES,
    AOpen,
    ASubscribeQueue,
    ConversationStatus,
    Event,
    HandoffPacket,
    QueueItem,
    SConversation,
    SError,
    SQueue,
    SQueueItem,
)

__all__ = ["next_page_seq", "read_packet", "read_queue"]

RATE_LIMIT_RETRIES = 10
"""Times a page refused with ``rate_limited`` is asked for again (after a jittered
back-off of 1 to 10 s)."""


async def read_queue(
    conn: Connection,
    statuses: Sequence[ConversationStatus] = DEFAULT_QUEUE_STATUSES,
    timeout: float = 10.0,
) -> list[QueueItem]:
    """Subscribe to the queue in ``statuses`` and return every row of the answer, in
    queue order (the ``queue`` frame's rows, then the ``more`` rows after it). The
    connection stays subscribed; frames of other kinds read meanwhile are dropped."""
    await conn.send(ASubscribeQueue(type="subscribe_queue", statuses=list(statuses)))
    frames = await conn.recv_until(
        lambda f: isinstance(f, SQueue) or isinstance(f, SError) and f.client_msg_id is None,
        timeout,
    )
    first = frames[-1]
    if isinstance(first, SError):
        raise WireError(first.detail, code=first.code)
    rows = {item.conversation_id: item for item in first.items}
    for _ in range(first.more):
        frames = await conn.recv_until(lambda f: isinstance(f, SQueueItem), timeout)
        item = frames[-1].item
        rows[item.conversation_id] = item
    return list(rows.values())


def next_page_seq(packet: HandoffPacket) -> int | None:
    """The ``last_seq`` to ``open`` the conversation from for the next page of the
    transcript, or None when ``packet`` is the last page."""
    if not packet.more or not packet.transcript:
        return None
    return packet.transcript[-1].seq


async def read_packet(
    conn: Connection,
    conversation_id: str,
    *,
    last_seq: int = 0,
    subscribe: bool = False,
    timeout: float = 10.0,
) -> HandoffPacket:
    """The conversation's handoff packet with every event after ``last_seq``: the first
    page (``open``, subscribing when ``subscribe``), then ``open`` from each page's last
    ``seq`` until a page is the last. A ``rate_limited`` refusal is retried after a
    back-off (:data:`RATE_LIMIT_RETRIES` times); any other refusal raises."""
    packet = await _page(conn, conversation_id, last_seq, subscribe, timeout)
    transcript: list[Event] = list(packet.transcript)
    after = next_page_seq(packet)
    while after is not None:
        page = await _page(conn, conversation_id, after, False, timeout)
        transcript.extend(page.transcript)
        packet, after = page, next_page_seq(page)
    return packet.model_copy(update={"transcript": transcript, "more": False})


async def _page(
    conn: Connection, conversation_id: str, last_seq: int, subscribe: bool, timeout: float
) -> HandoffPacket:
    """One ``open`` answer, retried while the server says ``rate_limited``."""
    frame = AOpen(
        type="open", conversation_id=conversation_id, last_seq=last_seq, subscribe=subscribe
    )
    attempt = 0
    while True:
        await conn.send(frame)
        frames = await conn.recv_until(lambda f: _answers(f, conversation_id), timeout)
        last = frames[-1]
        if isinstance(last, SConversation):
            return last.packet
        attempt += 1
        if last.code != "rate_limited" or attempt > RATE_LIMIT_RETRIES:
            raise WireError(last.detail, code=last.code)
        await asyncio.sleep(backoff_delay(attempt, initial=1.0, maximum=10.0))


def _answers(frame: object, conversation_id: str) -> bool:
    """Whether ``frame`` answers an ``open`` of ``conversation_id``: its packet, or a
    refusal of a frame without a ``client_msg_id``."""
    if isinstance(frame, SConversation):
        return frame.packet.conversation_id == conversation_id
    return isinstance(frame, SError) and frame.client_msg_id is None
