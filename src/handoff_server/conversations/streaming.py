"""An answer's partial text, from the answering thread to the conversation's clients.

The ``llm`` engine writes its answer in a worker thread (see :mod:`.turn`); each time
the text grows it calls a :class:`PartialStream`, which hops to the event loop and
publishes an ``ai_partial`` frame (:class:`~handoff_server.protocol.SAiPartial`) to the
conversation's visitor and agents. Partial text is provisional and never stored: once
the turn is decided, :meth:`PartialStream.finish` sends the last frame (``done``, with
``answered`` when the stored ``ai_message`` carries the answer, else ``withdrawn``)
before the turn's event is stored and published, and anything the thread sends later
(a turn that timed out) is dropped. So a visitor's client never keeps a half answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from handoff_server.conversations.sink import EventSink
from handoff_server.protocol import SAiPartial

__all__ = ["PartialStream"]

MIN_INTERVAL_SECONDS = 0.05
"""At most one ``ai_partial`` frame per conversation per this many seconds; each frame
carries the whole text so far, so the frames skipped lose nothing."""


class PartialStream:
    """Publishes one turn's partial text. Created on the event loop; call it from any
    thread with the visible text so far; :meth:`finish` on the loop when the turn is
    decided."""

    def __init__(self, sink: EventSink, conversation_id: str) -> None:
        self.sink = sink
        self.conversation_id = conversation_id
        self.turn_id = uuid.uuid4().hex
        self.started = False
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._latest = ""
        self._sent = ""
        self._last_at = 0.0
        self._flush_pending = False

    def __call__(self, text: str) -> None:
        """The visible text so far (thread-safe)."""
        self._loop.call_soon_threadsafe(self._offer, text)

    def _offer(self, text: str) -> None:
        if self.closed:
            return
        self._latest = text
        wait = self._last_at + MIN_INTERVAL_SECONDS - time.monotonic()
        if wait <= 0:
            self._flush()
        elif not self._flush_pending:
            self._flush_pending = True
            self._loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self.closed or not self._latest or self._latest == self._sent:
            return
        self.started = True
        self._sent = self._latest
        self._last_at = time.monotonic()
        self._publish(
            SAiPartial(conversation_id=self.conversation_id, turn_id=self.turn_id, text=self._sent)
        )

    def finish(self, answered: bool) -> None:
        """End the partial text: ``answered`` when the stored ``ai_message`` carries the
        answer, else it is withdrawn. Sends nothing when no partial text was sent."""
        if self.closed:
            return
        self.closed = True
        if self.started:
            frame = SAiPartial(
                conversation_id=self.conversation_id,
                turn_id=self.turn_id,
                text="",
                done=True,
                outcome="answered" if answered else "withdrawn",
            )
            self._publish(frame)

    def _publish(self, frame: SAiPartial) -> None:
        self.sink.publish_live(self.conversation_id, frame)
