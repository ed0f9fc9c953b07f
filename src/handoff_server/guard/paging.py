"""Answers cut to a size every client of the product accepts, and the visitor info bound.

- A transcript is sent by ``seq`` range: :func:`transcript_page` keeps the events that
  fit ``page_bytes`` (at least one) and says ``more``; the client asks for the rest with
  ``open`` from the last ``seq`` it got.
- The queue is one ``queue`` frame with the first rows (``page_rows``, ``page_bytes``)
  and ``more``, then
  the other rows as ``queue_item`` frames (:func:`queue_answer`), queued together so no
  live change can come between them.
- The policy's history is sent newest first, a page at a time (:func:`fitting` cuts it);
  the operator asks for the rest with ``before`` the last version it got.
- A visitor's ``start`` info is bounded in fields and bytes (:func:`check_visitor_info`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from handoff_server.errors import WireError
from handoff_server.protocol import HandoffPacket, QueueItem, SQueue, SQueueItem, VisitorInfo

__all__ = ["check_visitor_info", "fitting", "queue_answer", "transcript_page"]


def fitting(items: Iterable[BaseModel], page_bytes: int) -> int:
    """How many of the first ``items`` fit together in ``page_bytes`` bytes of JSON
    (UTF-8, one separator byte each): at least one when there is one, so a single item
    larger than a page still goes out alone."""
    used = 0
    kept = 0
    for item in items:
        size = len(item.model_dump_json().encode()) + 1
        if kept and used + size > page_bytes:
            break
        used += size
        kept += 1
    return kept


def transcript_page(packet: HandoffPacket, page_bytes: int) -> HandoffPacket:
    """``packet`` with its transcript cut to the first events whose JSON fits in
    ``page_bytes`` bytes (UTF-8; always at least one event) and ``more`` set when events
    were left out. The client asks for the rest with ``open`` from the ``seq`` of the
    page's last event."""
    kept = fitting(packet.transcript, page_bytes)
    if kept == len(packet.transcript):
        return packet
    return packet.model_copy(update={"transcript": packet.transcript[:kept], "more": True})


def queue_answer(items: Sequence[QueueItem], page_rows: int, page_bytes: int) -> list[BaseModel]:
    """The frames answering ``subscribe_queue``: ``queue`` with the first rows (at most
    ``page_rows``, and no more than fit in ``page_bytes`` bytes of JSON; at least one)
    and ``more`` (how many follow), then each other row as ``queue_item``."""
    kept = fitting(items[:page_rows], page_bytes)
    first, rest = items[:kept], items[kept:]
    frames: list[BaseModel] = [SQueue(items=list(first), more=len(rest))]
    frames.extend(SQueueItem(item=item) for item in rest)
    return frames


def check_visitor_info(info: VisitorInfo, max_fields: int, max_bytes: int) -> None:
    """Refuse visitor info with more than ``max_fields`` form fields or whose JSON is
    over ``max_bytes`` bytes (UTF-8): ``WireError`` code ``visitor_info_too_large``.
    Every queue row and handoff packet carries (part of) it, so its size is the
    server's to bound."""
    if len(info.fields) > max_fields:
        raise WireError(
            f"visitor info has {len(info.fields)} fields; the limit is {max_fields}",
            code="visitor_info_too_large",
        )
    size = len(info.model_dump_json().encode())
    if size > max_bytes:
        raise WireError(
            f"visitor info is {size} bytes; the limit is {max_bytes}",
            code="visitor_info_too_large",
        )
