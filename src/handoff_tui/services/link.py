"""The link to the server: connect with back-off, resync, turn frames into messages.

:meth:`Link.run` is the body of the app's long-lived ``ws`` worker. It connects (backing
off after each failure), subscribes to the queue, says the agent's presence (online or
away, as they chose), re-opens every open conversation from its last seen ``seq`` and
resends unacknowledged replies with their original ``client_msg_id`` (the server stores
a retried frame once), then posts one message from :mod:`handoff_tui.messages` per
server frame. It reads the model (what to resync) and never changes it: the app's
handlers do, on the messages. Operator frames (:mod:`handoff_server.protocol_operator`)
become :class:`OperatorAnswer`; the app routes them by ``request_id``
(:mod:`handoff_tui.services.operator`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel
from textual.message import Message
from websockets.exceptions import ConnectionClosed, InvalidStatus

from handoff_server.client import retry_after_header, retry_wait
from handoff_server.protocol import (
    AAccept,
    AAnswerOffline,
    ACallbackDone,
    AClaim,
    AHandback,
    ANote,
    AOpen,
    APresence,
    ARelease,
    AReply,
    AResolve,
    ASubscribeQueue,
    ATransfer,
    SAck,
    SAgentStatus,
    SAiPartial,
    SAuthenticated,
    SConversation,
    SError,
    SEvent,
    SOffer,
    SOfferEnded,
    SQueue,
    SQueueItem,
    SStaff,
    STyping,
    SWaitingWork,
)
from handoff_server.protocol_operator import (
    SAnalytics,
    SKbEntryCreated,
    SKnowledgeGaps,
    SPolicy,
    SPolicyHistory,
    SPolicyValidation,
    SRiskCoverage,
    SWhatIf,
)
from handoff_tui.messages import (
    AckReceived,
    AiPartialReceived,
    Authenticated,
    ConnectionChanged,
    ConversationLoaded,
    DeskChanged,
    ErrorReceived,
    EventReceived,
    OperatorAnswer,
    QueueItemChanged,
    QueueReplaced,
    TypingChanged,
    WorkWaiting,
)
from handoff_tui.model import AgentModel
from handoff_tui.services.client import AgentClient, AgentConnection
from handoff_tui.services.pages import QueuePages, TranscriptPages
from handoff_tui.settings import TUISettings

__all__ = ["PAGE_RETRY_SECONDS", "Link", "action_frame", "not_ready_reason", "subscription"]

PAGE_RETRY_SECONDS = 2.0
"""Pause before asking again for transcript pages the server refused (``rate_limited``)."""

_OPERATOR_ANSWERS = (
    SPolicy,
    SPolicyValidation,
    SPolicyHistory,
    SWhatIf,
    SAnalytics,
    SRiskCoverage,
    SKnowledgeGaps,
    SKbEntryCreated,
)

_ACTIONS: dict[str, type[BaseModel]] = {
    "callback_done": ACallbackDone,
    "answer_offline": AAnswerOffline,
    "claim": AClaim,
    "resolve": AResolve,
    "release": ARelease,
    "handback": AHandback,
    "reply": AReply,
    "note": ANote,
    "transfer": ATransfer,
    "accept": AAccept,
}


def action_frame(
    cid: str, kind: str, cmid: str, text: str | None = None, **extra: Any
) -> BaseModel:
    """The frame for ``kind`` (``claim``, ``resolve``, ``release``, ``handback``,
    ``reply``, ``note``, ``transfer``, ``accept``, ``callback_done``, ``answer_offline``)
    on conversation ``cid``, sent as ``cmid``, with the ``extra`` fields its kind takes (a
    transfer's target and note, a resolution); raises ``KeyError`` for another kind."""
    cls = _ACTIONS[kind]
    fields: dict[str, Any] = {"type": kind, "conversation_id": cid, "client_msg_id": cmid}
    if text is not None or kind in ("reply", "note", "answer_offline"):
        fields["text"] = text
    return cls(**fields, **{k: v for k, v in extra.items() if v is not None})


def not_ready_reason(exc: InvalidStatus) -> str | None:
    """Why a handshake refused with HTTP 503 ``not_ready`` (the server listens but is
    still starting) says it is not ready, for people (``building index``); ``None``
    for any other refusal (another status, or a 503 without that code: a proxy, say)."""
    response = exc.response
    body = bytes(response.body or b"").decode("utf-8", "replace")
    if response.status_code != 503 or not body.startswith("not_ready"):
        return None
    reason = body.removeprefix("not_ready").lstrip(": ").split(";")[0].strip()
    return reason or "not ready"


def subscription(model: AgentModel) -> ASubscribeQueue:
    """The ``subscribe_queue`` frame for the statuses the current queue view lists."""
    return ASubscribeQueue(type="subscribe_queue", statuses=list(model.queue.statuses))


class Link:
    """One agent's link to the server. ``post`` delivers a message to the app (its
    ``post_message``); :meth:`run` runs inside the app's worker, :meth:`send` anywhere on
    the app's event loop."""

    def __init__(
        self,
        client: AgentClient,
        settings: TUISettings,
        model: AgentModel,
        post: Callable[[Message], object],
    ) -> None:
        self.client = client
        self.settings = settings
        self.model = model
        self.post = post
        self.connection: AgentConnection | None = None
        """The open connection, ``None`` while (re)connecting."""
        self.attempt = 0
        """Failed attempts in a row since the last connection."""
        self.pages = TranscriptPages()
        """Transcripts arriving in pages (posted once whole)."""
        self.queue_pages = QueuePages()
        """The queue answer arriving in frames (posted once whole)."""

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self.connection is not None

    async def run(self) -> None:
        """Stay connected: connect with back-off, resync, then read frames until closed.
        A server still starting (HTTP 503 ``not_ready``) is waited for the same way, in
        the ``starting`` state. Returns only when the server refuses the token (HTTP
        401/403)."""
        while True:
            try:
                conn = await self.client.connect()
            except InvalidStatus as exc:
                code = exc.response.status_code
                if code in (401, 403):
                    self.post(ConnectionChanged("unauthorized", detail=f"HTTP {code}"))
                    return
                starting = not_ready_reason(exc)
                after = retry_after_header(exc.response.headers)
                if starting is not None:
                    await self._wait_to_retry(starting, "starting", after)
                else:
                    await self._wait_to_retry(f"HTTP {code}", retry_after=after)
                continue
            except (OSError, TimeoutError, ConnectionClosed) as exc:
                await self._wait_to_retry(str(exc) or type(exc).__name__)
                continue
            self.connection = conn
            self.attempt = 0
            self.post(ConnectionChanged("connected"))
            try:
                await self._resync(conn)
                async for frame in conn.frames():
                    if not await self._page(conn, frame):
                        self._dispatch(frame)
            except (OSError, ConnectionClosed):
                pass
            finally:
                self.connection = None
                self.pages.clear()
                self.queue_pages.clear()
                await conn.close()
            await self._wait_to_retry("connection closed")

    async def send(self, frame: BaseModel) -> bool:
        """Send ``frame``; False when the link is down (the caller keeps it pending)."""
        conn = self.connection
        if conn is None:
            return False
        try:
            await conn.send(frame)
        except (OSError, ConnectionClosed):
            return False
        return True

    async def _wait_to_retry(
        self,
        detail: str,
        state: Literal["reconnecting", "starting"] = "reconnecting",
        retry_after: str | None = None,
    ) -> None:
        """Wait before the next connection: the back-off, or the refusal's
        ``Retry-After`` (its header value) when longer (at most a minute)."""
        self.attempt += 1
        delay = retry_wait(self.settings.backoff(self.attempt), retry_after)
        self.post(ConnectionChanged(state, attempt=self.attempt, retry_in=delay, detail=detail))
        await asyncio.sleep(delay)

    async def _resync(self, conn: AgentConnection) -> None:
        model = self.model
        await conn.send(subscription(model))
        # Say this agent is here (or away, as they chose): the answer is the roster.
        await conn.send(APresence(type="presence", status=model.staff.wanted))
        for cid in list(model.open_order):
            conv = model.conversations[cid]
            await conn.send(AOpen(type="open", conversation_id=cid, last_seq=conv.last_seq))
            for pending in list(conv.pending.values()):
                if pending.status == "sending":
                    await conn.send(
                        action_frame(cid, pending.kind, pending.client_msg_id, pending.text)
                    )

    async def _page(self, conn: AgentConnection, frame: Any) -> bool:
        """Handle a page of a transcript: ask for the next one, post the packet once it
        is whole. A refusal while pages are awaited (``rate_limited``) asks again after
        a pause. True when ``frame`` was taken here."""
        if isinstance(frame, SQueue) or isinstance(frame, SQueueItem) and not frame.erased:
            return self._queue_page(frame)
        if isinstance(frame, SConversation):
            whole, request = self.pages.take(frame.packet)
            if request is not None:
                await conn.send(request)
            if whole is not None:
                self.post(ConversationLoaded(whole))
            return True
        if (
            isinstance(frame, SError)
            and frame.code == "rate_limited"
            and frame.client_msg_id is None
            and self.pages.partial
        ):
            await asyncio.sleep(PAGE_RETRY_SECONDS)
            for request in self.pages.requests():
                await conn.send(request)
            return True
        return False

    def _queue_page(self, frame: SQueue | SQueueItem) -> bool:
        """Collect the queue answer's rows; post it once whole. True when taken."""
        if isinstance(frame, SQueue):
            rows = self.queue_pages.start(frame)
            taken = True
        else:
            taken, rows = self.queue_pages.row(frame.item)
        if rows is not None:
            self.post(QueueReplaced(rows))
        return taken

    def _dispatch(self, frame: Any) -> None:
        if isinstance(frame, SEvent):
            self.post(EventReceived(frame.event))
        elif isinstance(frame, SQueueItem):
            self.post(QueueItemChanged(frame.item, frame.erased))
        elif isinstance(frame, SAck):
            self.post(AckReceived(frame.client_msg_id, frame.conversation_id, frame.seq))
        elif isinstance(frame, STyping):
            self.post(TypingChanged(frame.conversation_id, frame.role, frame.name, frame.active))
        elif isinstance(frame, SError):
            self.post(
                ErrorReceived(
                    frame.code,
                    frame.detail,
                    frame.client_msg_id,
                    frame.conversation_id,
                    frame.request_id,
                )
            )
        elif isinstance(frame, SStaff | SAgentStatus | SOffer | SOfferEnded):
            self.post(DeskChanged(frame))
        elif isinstance(frame, SAuthenticated):
            # ``limits`` is optional on the wire: older servers do not send it.
            self.post(Authenticated(frame.agent, frame.limits))
        elif isinstance(frame, _OPERATOR_ANSWERS):
            self.post(OperatorAnswer(frame, frame.request_id))
        elif isinstance(frame, SWaitingWork):
            self.post(WorkWaiting(frame.team, frame.items))
        elif isinstance(frame, SAiPartial):
            self.post(AiPartialReceived(frame.conversation_id, frame.text, frame.done))
