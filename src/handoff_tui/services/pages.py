"""Paged answers put together before the app sees them: transcripts and the queue.

The server sends a long transcript in pages: a ``conversation`` answer whose packet says
``more`` stops at a page's end, and the next page is ``open`` from its last ``seq``
(:func:`~handoff_server.client_reads.next_page_seq`). :class:`TranscriptPages` holds the
pages of each conversation being read and says what to ask for next; the link posts
one :class:`~handoff_tui.messages.ConversationLoaded` with the whole transcript.

The queue comes as a ``queue`` frame with its first rows and ``more``, the count of rows
that follow at once as ``queue_item`` frames: :class:`QueuePages` collects them, so the
app replaces its queue once with every row (and tells no "new escalation" for rows that
were already waiting).
"""

from __future__ import annotations

from handoff_server.client_reads import next_page_seq
from handoff_server.protocol import AOpen, Event, HandoffPacket, QueueItem, SQueue

__all__ = ["QueuePages", "TranscriptPages"]


class TranscriptPages:
    """The conversations whose transcript is arriving in pages: for each, the packet so
    far (its transcript: every event received, in ``seq`` order)."""

    def __init__(self) -> None:
        self.partial: dict[str, HandoffPacket] = {}

    def take(self, packet: HandoffPacket) -> tuple[HandoffPacket | None, AOpen | None]:
        """Take one ``conversation`` answer. Returns the whole packet once its last page
        is in (else ``None``), and the ``open`` asking for the next page (else ``None``)."""
        cid = packet.conversation_id
        held = self.partial.pop(cid, None)
        if held is not None:
            events: dict[int, Event] = {e.seq: e for e in held.transcript}
            events.update((e.seq, e) for e in packet.transcript)
            merged = [events[s] for s in sorted(events)]
            packet = packet.model_copy(update={"transcript": merged})
        after = next_page_seq(packet)
        if after is None:
            return packet.model_copy(update={"more": False}), None
        self.partial[cid] = packet
        return None, _next(cid, after)

    def requests(self) -> list[AOpen]:
        """The ``open`` frames asking again for every next page awaited (after the
        server refused one, e.g. ``rate_limited``)."""
        out = []
        for cid, packet in self.partial.items():
            after = next_page_seq(packet)
            if after is not None:
                out.append(_next(cid, after))
        return out

    def clear(self) -> None:
        """Forget every partial transcript (the connection is gone)."""
        self.partial.clear()


def _next(cid: str, after: int) -> AOpen:
    return AOpen(type="open", conversation_id=cid, last_seq=after, subscribe=False)


class QueuePages:
    """The queue answer being read: its rows so far and how many are still to come."""

    def __init__(self) -> None:
        self.rows: list[QueueItem] = []
        self.awaited = 0

    def start(self, frame: SQueue) -> list[QueueItem] | None:
        """Take a ``queue`` frame; returns every row when no ``queue_item`` follows."""
        self.rows, self.awaited = list(frame.items), frame.more
        return self._done()

    def row(self, item: QueueItem) -> tuple[bool, list[QueueItem] | None]:
        """Take a ``queue_item``: (whether it belongs to the answer being read, every
        row once the answer is whole)."""
        if self.awaited <= 0:
            return False, None
        self.rows.append(item)
        self.awaited -= 1
        return True, self._done()

    def clear(self) -> None:
        """Forget the answer being read (the connection is gone)."""
        self.rows, self.awaited = [], 0

    def _done(self) -> list[QueueItem] | None:
        if self.awaited > 0:
            return None
        rows, self.rows = self.rows, []
        return rows
