"""The agent app: one factory (:func:`make_app`) used by ``handoff agent``, ``handoff demo``,
the tests and the benchmark.

One long-lived worker (:meth:`AgentApp.run_link`) owns the connection: it connects with
back-off, subscribes to the queue, re-opens every open conversation from its last seen
``seq`` and resends unacknowledged replies with their original ``client_msg_id`` (the
server stores a retried frame once), then turns each server frame into a message from
:mod:`handoff_tui.messages`. Handlers update :mod:`handoff_tui.state`; screens redraw
from it, at most once per batch of messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import BaseModel
from textual import on, work
from textual.actions import parse as parse_action
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState
from websockets.exceptions import ConnectionClosed, InvalidStatus

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AClose,
    AHandback,
    ANote,
    AOpen,
    ARelease,
    AReply,
    AResolve,
    ASubscribeQueue,
    ATyping,
    SAck,
    SAuthenticated,
    SConversation,
    SError,
    SEvent,
    SQueue,
    SQueueItem,
    STyping,
)
from handoff_tui.clock import Clock, SystemClock
from handoff_tui.formatting import trigger_label
from handoff_tui.link import AgentClient, AgentConnection, ServerClient
from handoff_tui.messages import (
    AckReceived,
    Authenticated,
    ConnectionChanged,
    ConversationLoaded,
    ErrorReceived,
    EventReceived,
    QueueItemChanged,
    QueueReplaced,
    TypingChanged,
)
from handoff_tui.screens import ConversationScreen, QueueScreen
from handoff_tui.settings import TUISettings
from handoff_tui.state import (
    ConversationState,
    PendingSend,
    QueueModel,
    QueueView,
    acting_agent_id,
)
from handoff_tui.text import visible
from handoff_tui.widgets.banner import ConnectionBanner, OpenBar

__all__ = ["AgentApp", "make_app"]

_ACTIONS: dict[str, type[BaseModel]] = {
    "claim": AClaim,
    "resolve": AResolve,
    "release": ARelease,
    "handback": AHandback,
    "reply": AReply,
    "note": ANote,
}
_DONE_WORDS = {
    "claim": "Claimed",
    "resolve": "Resolved",
    "release": "Released to the queue",
    "handback": "Handed back to the AI",
}


class AgentApp(App[None]):
    """The agent terminal UI. Build it with :func:`make_app`."""

    TITLE = "handoff agent"
    CSS_PATH = "app.tcss"
    now: reactive[datetime | None] = reactive(None)
    """The clock's time (UTC), refreshed every ``settings.tick_seconds``."""

    connection_state: reactive[str] = reactive("connecting")
    """``connecting`` | ``connected`` | ``reconnecting`` | ``unauthorized``."""

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette lists every action of the screen (and of the widgets named
        in its ``COMMAND_SOURCES``) that the current state allows, beside Textual's: the
        footer shows only the main keys of the current mode."""
        yield from super().get_system_commands(screen)
        sources = [screen.BINDINGS, *(w.BINDINGS for w in getattr(screen, "COMMAND_SOURCES", ()))]
        seen: set[str] = set()
        for binding in (b for bindings in sources for b in bindings):
            if not isinstance(binding, Binding) or binding.action in seen:
                continue
            namespace, name, params = parse_action(binding.action)
            target = self if namespace == "app" else screen
            if target.check_action(name, params) is not True:
                continue
            seen.add(binding.action)
            key = binding.key_display or self.get_key_display(binding)
            # Run on this screen, not on whatever screen is on top when the palette calls it.
            action = binding.action.removeprefix("screen.")
            yield SystemCommand(
                binding.description, f"key: {key}", partial(self.run_action, action, screen)
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys 1–9 exist only for conversations that are open."""
        if action == "show_open" and parameters:
            return 0 < int(str(parameters[0])) <= len(self.open_order)
        return True

    def __init__(self, settings: TUISettings, client: AgentClient, clock: Clock) -> None:
        super().__init__()
        self.settings = settings
        self.client = client
        self.clock = clock
        self.queue = QueueModel()
        self.conversations: dict[str, ConversationState] = {}
        self.open_order: list[str] = []
        """Open conversations, in the order they were opened (keys 1–9)."""
        self.connection: AgentConnection | None = None
        self.attempt = 0
        self.retry_in = 0.0
        self.connection_detail = ""
        self.refusal: str | None = None
        """Why the server refused the token (HTTP 401/403), once it has: the app stops
        retrying, and ``handoff agent`` reports it and exits non-zero."""
        self._actions_in_flight: dict[str, tuple[str, str]] = {}
        self._typing_sent: dict[str, Timer] = {}
        self._redraw_pending = False
        self._queue_loaded = False

    # ----------------------------------------------------------------- lifecycle

    def get_default_screen(self) -> Screen[Any]:
        return QueueScreen()

    def on_mount(self) -> None:
        self.now = self.clock.now()
        self.set_interval(self.settings.tick_seconds, self._tick)
        self.run_link()

    def _tick(self) -> None:
        self.now = self.clock.now()
        self.schedule_redraw()

    @work(exclusive=True, group="ws")
    async def run_link(self) -> None:
        """Stay connected: connect with back-off, resync, then read frames until closed."""
        while True:
            try:
                conn = await self.client.connect()
            except InvalidStatus as exc:
                code = exc.response.status_code
                if code in (401, 403):
                    self.post_message(ConnectionChanged("unauthorized", detail=f"HTTP {code}"))
                    return
                await self._wait_to_retry(f"HTTP {code}")
                continue
            except (OSError, TimeoutError, ConnectionClosed) as exc:
                await self._wait_to_retry(str(exc) or type(exc).__name__)
                continue
            self.connection = conn
            self.post_message(ConnectionChanged("connected"))
            try:
                await self._resync(conn)
                async for frame in conn.frames():
                    self._dispatch(frame)
            except (OSError, ConnectionClosed):
                pass
            finally:
                self.connection = None
                await conn.close()
            await self._wait_to_retry("connection closed")

    async def _wait_to_retry(self, detail: str) -> None:
        self.attempt += 1
        delay = self.settings.backoff(self.attempt)
        self.post_message(
            ConnectionChanged("reconnecting", attempt=self.attempt, retry_in=delay, detail=detail)
        )
        await asyncio.sleep(delay)

    def _subscription(self) -> ASubscribeQueue:
        return ASubscribeQueue(type="subscribe_queue", statuses=list(self.queue.statuses))

    async def _resync(self, conn: AgentConnection) -> None:
        await conn.send(self._subscription())
        for cid in list(self.open_order):
            conv = self.conversations[cid]
            await conn.send(AOpen(type="open", conversation_id=cid, last_seq=conv.last_seq))
            for pending in list(conv.pending.values()):
                if pending.status == "sending":
                    await conn.send(
                        self._frame(cid, pending.kind, pending.client_msg_id, pending.text)
                    )

    def _dispatch(self, frame: Any) -> None:
        if isinstance(frame, SEvent):
            self.post_message(EventReceived(frame.event))
        elif isinstance(frame, SQueueItem):
            self.post_message(QueueItemChanged(frame.item))
        elif isinstance(frame, SAck):
            self.post_message(AckReceived(frame.client_msg_id, frame.conversation_id, frame.seq))
        elif isinstance(frame, SConversation):
            self.post_message(ConversationLoaded(frame.packet))
        elif isinstance(frame, SQueue):
            self.post_message(QueueReplaced(frame.items))
        elif isinstance(frame, STyping):
            self.post_message(
                TypingChanged(frame.conversation_id, frame.role, frame.name, frame.active)
            )
        elif isinstance(frame, SError):
            self.post_message(
                ErrorReceived(frame.code, frame.detail, frame.client_msg_id, frame.conversation_id)
            )
        elif isinstance(frame, SAuthenticated):
            self.post_message(Authenticated(frame.agent))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "ws" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.connection_state = "reconnecting"
            self.connection_detail = f"link failed: {error!r}"
            self.tell(
                f"The connection worker failed: {error!r}",
                title="Error",
                severity="error",
                timeout=30,
            )
            self.schedule_redraw()

    def tell(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
    ) -> None:
        """Show a notification. ``message`` and ``title`` are data (visitor names, server
        error details): shown as plain text with control characters made visible."""
        self.notify(
            visible(message),
            title=visible(title, one_line=True),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    # ----------------------------------------------------------------- sending

    def _frame(self, cid: str, kind: str, cmid: str, text: str | None = None) -> BaseModel:
        cls = _ACTIONS[kind]
        fields: dict[str, Any] = {"type": kind, "conversation_id": cid, "client_msg_id": cmid}
        if text is not None or kind in ("reply", "note"):
            fields["text"] = text
        return cls(**fields)

    async def _send(self, frame: BaseModel) -> bool:
        conn = self.connection
        if conn is None:
            return False
        try:
            await conn.send(frame)
        except (OSError, ConnectionClosed):
            return False
        return True

    def send_text(self, cid: str, kind: str, text: str) -> bool:
        """Send ``text`` as a ``reply`` or ``note`` to conversation ``cid``. It shows as
        "sending" until acknowledged; if the link is down it goes out on reconnect."""
        limit = 4000
        if len(text) > limit:
            self.tell(f"Too long: {len(text)} characters (limit {limit}).", severity="error")
            return False
        conv = self.conversations[cid]
        # Failed lines have been seen by now; the new send replaces them.
        for key in [k for k, p in conv.pending.items() if p.status == "failed"]:
            del conv.pending[key]
        cmid = new_client_msg_id()
        conv.pending[cmid] = PendingSend(cmid, kind, text)  # type: ignore[arg-type]
        self._stop_typing(cid)
        self._send_in_background(self._frame(cid, kind, cmid, text))
        self.schedule_redraw()
        return True

    def send_action(self, cid: str, kind: str) -> None:
        """Claim, resolve, release or hand back ``cid``; the result is notified."""
        if self.connection is None:
            self.tell("Not connected; try again once the banner is gone.", severity="warning")
            return
        cmid = new_client_msg_id()
        self._actions_in_flight[cmid] = (cid, kind)
        self._send_in_background(self._frame(cid, kind, cmid))

    @work(group="send")
    async def _send_in_background(self, frame: BaseModel) -> None:
        # A failed send is not an error here: the frame stays pending and the link worker
        # resends it after reconnecting.
        await self._send(frame)

    def agent_typing(self, cid: str) -> None:
        """The agent typed in ``cid``'s reply box: say so, and stop saying so when idle."""
        timer = self._typing_sent.get(cid)
        if timer is None:
            self._send_in_background(ATyping(type="typing", conversation_id=cid, active=True))
        else:
            timer.stop()
        self._typing_sent[cid] = self.set_timer(
            self.settings.typing_idle_seconds, lambda: self._stop_typing(cid)
        )

    def _stop_typing(self, cid: str) -> None:
        timer = self._typing_sent.pop(cid, None)
        if timer is not None:
            timer.stop()
            self._send_in_background(ATyping(type="typing", conversation_id=cid, active=False))

    def set_queue_view(self, mode: QueueView) -> None:
        """Switch the queue screen to ``mode`` and subscribe to the statuses it lists; the
        server answers with a fresh ``queue`` (on a reconnect the same set is sent)."""
        if mode is self.queue.mode:
            return
        self.queue.set_mode(mode)
        self._send_in_background(self._subscription())
        self.schedule_redraw()

    # ----------------------------------------------------------------- navigation

    def open_conversation(self, cid: str) -> None:
        """Show conversation ``cid``, fetching it from the server the first time."""
        if cid not in self.conversations:
            # Until its packet arrives, what is known comes from the queue row.
            item = self.queue.items.get(cid)
            self.conversations[cid] = ConversationState(cid, status=item.status if item else "")
        if cid not in self.open_order:
            self.open_order.append(cid)
            self._send_in_background(AOpen(type="open", conversation_id=cid, last_seq=0))
        screen = ConversationScreen(cid)
        if isinstance(self.screen, ConversationScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def show_queue(self) -> None:
        """Go back to the queue screen."""
        while isinstance(self.screen, ConversationScreen):
            self.pop_screen()

    def action_show_open(self, n: int) -> None:
        """Show the ``n``-th open conversation (1-based)."""
        if 0 < n <= len(self.open_order):
            self.open_conversation(self.open_order[n - 1])

    def action_next_conversation(self) -> None:
        """Cycle queue → first open conversation → … → queue."""
        if not self.open_order:
            return
        current = (
            self.screen.conversation_id if isinstance(self.screen, ConversationScreen) else None
        )
        if current is None:
            self.open_conversation(self.open_order[0])
            return
        n = self.open_order.index(current) + 1
        if n < len(self.open_order):
            self.open_conversation(self.open_order[n])
        else:
            self.show_queue()

    def action_close_conversation(self) -> None:
        """Close the current conversation (stop receiving its events)."""
        if not isinstance(self.screen, ConversationScreen):
            return
        cid = self.screen.conversation_id
        self.open_order.remove(cid)
        self.conversations.pop(cid, None)
        self._stop_typing(cid)
        self._send_in_background(AClose(type="close", conversation_id=cid))
        self.show_queue()

    def visitor_name(self, cid: str) -> str:
        """The visitor's name (or email) for ``cid``, from what has been received."""
        conv = self.conversations.get(cid)
        visitor = conv.packet.visitor if conv and conv.packet else None
        if visitor is None and cid in self.queue.items:
            visitor = self.queue.items[cid].visitor
        if visitor is None:
            return cid[:8]
        return visitor.name or visitor.email or "visitor"

    # ----------------------------------------------------------------- drawing

    def schedule_redraw(self) -> None:
        """Redraw the current screen once, after the messages already queued."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        screen = self.screen
        if isinstance(screen, QueueScreen | ConversationScreen) and screen.ready:
            try:
                screen.redraw()
            except NoMatches:
                # The app is closing and the screen's widgets are already gone: a redraw
                # queued just before has nothing left to draw on.
                if not self._exit and screen.is_attached and screen.children:
                    raise

    def draw_bars(self, screen: Screen[Any]) -> None:
        """Draw the connection banner and open-conversations bar of ``screen``."""
        screen.query_one(ConnectionBanner).show_state(
            self.connection_state,
            self.client.url,
            self.attempt,
            self.retry_in,
            self.connection_detail,
        )
        current = screen.conversation_id if isinstance(screen, ConversationScreen) else None
        tabs = [
            (self.visitor_name(cid), self.conversations[cid].unread, cid == current)
            for cid in self.open_order
        ]
        counts = self.queue.counts()
        waiting = counts["queued"] + counts["assigned"]
        screen.query_one(OpenBar).show_tabs(tabs, waiting, current is None)

    # ----------------------------------------------------------------- messages

    @on(ConnectionChanged)
    def _connection_changed(self, message: ConnectionChanged) -> None:
        self.connection_state = message.state
        self.retry_in = message.retry_in
        self.connection_detail = message.detail
        if message.state == "connected":
            if self.attempt:
                self.tell("Reconnected; caught up from the last event seen.", timeout=3)
            self.attempt = 0
        if message.state == "unauthorized":
            self.refusal = (
                f"the server at {self.client.url} refused the token "
                f"({message.detail or 'HTTP 401'})"
            )
            if self.queue.me is None:
                # Never signed in: there is nothing on screen to keep, so say why and stop.
                self.exit(return_code=1)
                return
        self.schedule_redraw()

    @on(Authenticated)
    def _authenticated(self, message: Authenticated) -> None:
        self.queue.me = message.agent
        self.schedule_redraw()

    @on(QueueReplaced)
    def _queue_replaced(self, message: QueueReplaced) -> None:
        self.queue.replace(message.items)
        self._queue_loaded = True
        self.schedule_redraw()

    @on(QueueItemChanged)
    def _queue_item_changed(self, message: QueueItemChanged) -> None:
        item = message.item
        if self.queue.apply(item) and self._queue_loaded:
            name = item.visitor.name or item.visitor.email or "A visitor"
            reason = trigger_label(item.trigger) or "escalated"
            self.tell(f"{name} — {reason}", title="New escalation", timeout=3)
        self.schedule_redraw()

    @on(ConversationLoaded)
    def _conversation_loaded(self, message: ConversationLoaded) -> None:
        conv = self.conversations.get(message.packet.conversation_id)
        if conv is None:
            return
        for event in conv.load(message.packet):
            self._settle_pending(conv, event.seq, event.client_msg_id)
        self.schedule_redraw()

    @on(EventReceived)
    def _event_received(self, message: EventReceived) -> None:
        event = message.event
        conv = self.conversations.get(event.conversation_id)
        if conv is None or not conv.add(event):
            return
        self._settle_pending(conv, event.seq, event.client_msg_id)
        mine = self.queue.me and acting_agent_id(event) == self.queue.me.id
        showing = isinstance(self.screen, ConversationScreen) and (
            self.screen.conversation_id == event.conversation_id
        )
        if not showing and not mine:
            conv.unread += 1
        if event.actor == "visitor":
            conv.visitor_typing = False
        self.schedule_redraw()

    def _settle_pending(self, conv: ConversationState, seq: int, cmid: str | None) -> None:
        for key, pending in list(conv.pending.items()):
            if key == cmid or pending.acked_seq == seq:
                del conv.pending[key]

    @on(AckReceived)
    def _ack(self, message: AckReceived) -> None:
        action = self._actions_in_flight.pop(message.client_msg_id, None)
        if action:
            cid, kind = action
            self.tell(f"{_DONE_WORDS[kind]}: {self.visitor_name(cid)}", timeout=3)
        conv = self.conversations.get(message.conversation_id)
        pending = conv.pending.get(message.client_msg_id) if conv else None
        if conv and pending:
            if message.seq in conv.events:
                del conv.pending[message.client_msg_id]
            else:
                # The event itself follows on the subscription; drop the pending line then.
                pending.acked_seq = message.seq
        self.schedule_redraw()

    @on(ErrorReceived)
    def _error(self, message: ErrorReceived) -> None:
        cmid = message.client_msg_id
        action = self._actions_in_flight.pop(cmid, None) if cmid else None
        for conv in self.conversations.values():
            if cmid and cmid in conv.pending:
                pending = conv.pending[cmid]
                pending.status = "failed"
                pending.error = f"{message.code}: {message.detail}"
                if not conv.draft.strip() and pending.text:
                    # Give the text back so the agent can fix the cause and send again.
                    conv.draft = pending.text
                    self._restore_draft(conv.conversation_id)
                self.schedule_redraw()
                return
        conv = self.conversations.get(message.conversation_id or "")
        if conv is not None and conv.packet is None and not action:
            conv.load_error = f"{message.code}: {message.detail}"
            self.schedule_redraw()
        what = f"{action[1]} failed" if action else "Server error"
        self.tell(f"{message.detail} ({message.code})", title=what, severity="error", timeout=6)

    def _restore_draft(self, cid: str) -> None:
        screen = self.screen
        if (
            isinstance(screen, ConversationScreen)
            and screen.ready
            and screen.conversation_id == cid
        ):
            screen.restore_draft()

    @on(TypingChanged)
    def _typing(self, message: TypingChanged) -> None:
        conv = self.conversations.get(message.conversation_id)
        if conv is None:
            return
        if message.role == "visitor":
            conv.visitor_typing = message.active
        elif not (self.queue.me and message.name == self.queue.me.name):
            conv.agent_typing = (message.name or "another agent") if message.active else None
        self.schedule_redraw()


def make_app(
    settings: TUISettings,
    client: AgentClient | None = None,
    clock: Clock | None = None,
) -> AgentApp:
    """Build the agent app.

    ``client`` opens connections (default: the real server at ``settings.server_url`` with
    ``settings.token``); tests pass :class:`handoff_tui.fake.FakeClient` or a client for
    a server on an ephemeral port. ``clock`` defaults to the system clock; tests fix it.
    """
    return AgentApp(
        settings,
        client or ServerClient(settings.server_url, settings.token),
        clock or SystemClock(),
    )
