"""The agent app: one factory (:func:`make_app`) used by ``handoff agent``, ``handoff demo``,
the tests and the benchmark.

The app wires and routes. Its ``ws`` worker runs the link
(:class:`handoff_tui.services.link.Link`: connect, back-off, resync, frames → messages from
:mod:`handoff_tui.messages`); the handlers here apply each message to the model
(:class:`handoff_tui.model.AgentModel`), notify, and ask the current screen
(:mod:`handoff_tui.screens`) to redraw from the model, at most once per batch of messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from textual import on, work
from textual.app import SystemCommand
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AClose, AOpen
from handoff_tui.clock import Clock, SystemClock
from handoff_tui.commands import palette, screen_commands
from handoff_tui.desk import DeskActions
from handoff_tui.formatting import trigger_label
from handoff_tui.leaving import leave
from handoff_tui.live_text import LiveText
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
from handoff_tui.model import AgentModel, ConversationState, QueueModel, QueueView, visitor_label
from handoff_tui.operator_desk import OperatorDesk
from handoff_tui.screens import ConversationScreen, QueueScreen
from handoff_tui.screens.base import AgentScreen
from handoff_tui.services import AgentClient, Link, ServerClient, action_frame
from handoff_tui.services.link import subscription
from handoff_tui.services.operator import OperatorRequests
from handoff_tui.services.typing import TypingSignal
from handoff_tui.settings import TUISettings

__all__ = ["AgentApp", "make_app"]

_DONE_WORDS = {
    "claim": "Claimed",
    "accept": "Accepted",
    "resolve": "Resolved",
    "release": "Released to the queue",
    "handback": "Handed back to the AI",
    "transfer": "Transferred",
    "callback_done": "Call back done",
    "answer_offline": "Answered by email",
}


class AgentApp(DeskActions, LiveText, OperatorDesk):
    """The agent terminal UI. Build it with :func:`make_app`; presence, offers,
    transfers and resolutions come from :class:`~handoff_tui.desk.DeskActions`, the
    operator's screens from :class:`OperatorDesk`."""

    TITLE = "handoff agent"
    CSS_PATH = "app.tcss"
    now: reactive[datetime | None] = reactive(None)
    """The clock's time (UTC), refreshed every ``settings.tick_seconds``."""

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands and every action the screen allows, each title once
        (:func:`handoff_tui.commands.palette`)."""
        ours = [*screen_commands(self, screen), *self.operator_commands()]
        return palette(super().get_system_commands(screen), ours)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys 1–9 exist only for conversations that are open; the desk's keys when
        they can act (see :meth:`~handoff_tui.desk.DeskActions.desk_allows`)."""
        if action == "show_open" and parameters:
            return 0 < int(str(parameters[0])) <= len(self.model.open_order)
        if action == "operator":
            return self.model.is_operator
        return self.desk_allows(action, parameters)

    def __init__(
        self, settings: TUISettings, client: AgentClient, clock: Clock, operator: bool = False
    ) -> None:
        super().__init__()
        self.settings = settings
        self.client = client
        self.clock = clock
        self.model = AgentModel()
        """What the app knows; screens draw from it."""
        self.model.link.server_url = client.url
        self.link = Link(client, settings, self.model, self.post_message)
        self.typing = TypingSignal(
            settings.typing_idle_seconds, self.set_timer, self._send_in_background
        )
        self._redraw_pending = False
        self.operator_mode = operator
        self.requests = OperatorRequests(self._send_in_background, lambda: self.link.connected)
        self.peeks = {}

    @property
    def queue(self) -> QueueModel:
        """The queue (``model.queue``)."""
        return self.model.queue

    @property
    def conversations(self) -> dict[str, ConversationState]:
        """Open conversations by id (``model.conversations``)."""
        return self.model.conversations

    @property
    def shown(self) -> Screen[Any] | None:
        """The screen on top; ``None`` once the app has closed its screens (a frame can
        still arrive while it quits, when ``self.screen`` raises ``ScreenStackError``)."""
        return self.screen_stack[-1] if self.screen_stack else None

    @property
    def connection_state(self) -> str:
        """``connecting`` | ``connected`` | ``reconnecting`` | ``starting`` | ``unauthorized``."""
        return self.model.link.state

    @property
    def attempt(self) -> int:
        """Failed connection attempts in a row (0 while connected)."""
        return self.model.link.attempt

    @property
    def refusal(self) -> str | None:
        """Why the server refused the token, once it has (``handoff agent`` reports it)."""
        return self.model.link.refusal

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
        """Stay connected (see :meth:`handoff_tui.services.link.Link.run`)."""
        await self.link.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "ws" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.model.link.state = "reconnecting"
            self.model.link.detail = f"link failed: {error!r}"
            self.tell(
                f"The connection worker failed: {error!r}",
                title="Error",
                severity="error",
                timeout=30,
            )
            self.schedule_redraw()

    # ----------------------------------------------------------------- sending

    def send_text(self, cid: str, kind: Literal["reply", "note"], text: str) -> bool:
        """Send ``text`` as a ``reply`` or ``note`` to conversation ``cid``. It shows as
        "sending" until acknowledged; if the link is down it goes out on reconnect."""
        if not _fits(self, text):
            return False
        cmid = new_client_msg_id()
        self.model.add_pending(cid, kind, cmid, text)
        self.typing.stop(cid)
        self._send_in_background(action_frame(cid, kind, cmid, text))
        self.schedule_redraw()
        return True

    def send_action(self, cid: str, kind: str, text: str | None = None, **fields: Any) -> bool:
        """Claim, resolve, release, hand back, transfer or accept ``cid``, mark its call
        back done or answer its offline message (``text``; ``fields``: the frame's
        others); the result is notified. False when not sent."""
        if not self.link.connected:
            self.tell("Not connected; try again once the banner is gone.", severity="warning")
        if not self.link.connected or (text is not None and not _fits(self, text)):
            return False
        cmid = new_client_msg_id()
        self.model.actions_in_flight[cmid] = (cid, kind)
        self._send_in_background(action_frame(cid, kind, cmid, text, **fields))
        return True

    @work(group="send")
    async def _send_in_background(self, frame: BaseModel) -> None:
        # A failed send is not an error here: the frame stays pending and the link worker
        # resends it after reconnecting.
        await self.link.send(frame)

    def agent_typing(self, cid: str) -> None:
        """The agent typed in ``cid``'s reply box (see :class:`TypingSignal`)."""
        self.typing.typed(cid)

    def set_queue_view(self, mode: QueueView) -> None:
        """Switch the queue screen to ``mode`` and subscribe to the statuses it lists; the
        server answers with a fresh ``queue`` (on a reconnect the same set is sent)."""
        if mode is self.queue.mode:
            return
        self.queue.set_mode(mode)
        self._send_in_background(subscription(self.model))
        self.schedule_redraw()

    # ----------------------------------------------------------------- navigation

    def open_conversation(self, cid: str) -> None:
        """Show conversation ``cid``, fetching it from the server the first time."""
        if self.model.open(cid):
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
        if 0 < n <= len(self.model.open_order):
            self.open_conversation(self.model.open_order[n - 1])

    def action_next_conversation(self) -> None:
        """Cycle queue → first open conversation → … → queue."""
        if not self.model.open_order:
            return
        shown = self.screen
        nxt = self.model.next_open(
            shown.conversation_id if isinstance(shown, ConversationScreen) else None
        )
        if nxt is None:
            self.show_queue()
        else:
            self.open_conversation(nxt)

    def action_close_conversation(self) -> None:
        """Close the current conversation (stop receiving its events); asks first when
        its reply box holds unsent text (:mod:`handoff_tui.leaving`)."""
        if isinstance(self.screen, ConversationScreen):
            cid = self.screen.conversation_id
            leave(self, self.model, [cid], "close", lambda: _close(self, cid))

    async def action_quit(self) -> None:
        """Quit; asks first when a reply box holds unsent text."""
        leave(self, self.model, list(self.model.open_order), "quit", self.exit)

    # ----------------------------------------------------------------- drawing

    def schedule_redraw(self) -> None:
        """Redraw the current screen once, after the messages already queued."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        screen = self.shown
        if isinstance(screen, AgentScreen) and screen.ready:
            self.draw_unless_closing(screen, screen.redraw)

    # ----------------------------------------------------------------- messages

    @on(ConnectionChanged)
    def _connection_changed(self, message: ConnectionChanged) -> None:
        if message.state != "connected":
            self.operator_link_lost(message.detail or message.state)
        if message.state in ("reconnecting", "starting"):
            self.model.link.attempt = message.attempt
        if self.model.link_changed(message.state, message.retry_in, message.detail):
            self.tell("Reconnected; caught up from the last event seen.", timeout=3)
        if message.state == "unauthorized" and self.queue.me is None:
            # Never signed in: there is nothing on screen to keep, so say why and stop.
            self.exit(return_code=1)
            return
        self.schedule_redraw()

    @on(Authenticated)
    def _authenticated(self, message: Authenticated) -> None:
        self.model.signed_in(message.agent, message.limits)
        self.operator_signed_in()
        self.schedule_redraw()

    @on(QueueReplaced)
    def _queue_replaced(self, message: QueueReplaced) -> None:
        self.model.replace_queue(message.items)
        self.schedule_redraw()

    @on(QueueItemChanged)
    def _queue_item_changed(self, message: QueueItemChanged) -> None:
        item = message.item
        if message.erased:
            _erased(self, item.conversation_id)
        elif news := self.model.apply_queue_item(item):
            name = visitor_label(item.visitor)
            reason = trigger_label(item.trigger) or "escalated"
            self.tell(f"{name} — {reason}", title=news, timeout=3)
        self.schedule_redraw()

    @on(ConversationLoaded)
    def _conversation_loaded(self, message: ConversationLoaded) -> None:
        self.peeked(message.packet.conversation_id, message.packet)
        if self.model.load(message.packet):
            self.schedule_redraw()

    @on(EventReceived)
    def _event_received(self, message: EventReceived) -> None:
        cid = message.event.conversation_id
        shown = self.shown
        showing = isinstance(shown, ConversationScreen) and shown.conversation_id == cid
        if self.model.add_event(message.event, showing):
            self.schedule_redraw()

    @on(AckReceived)
    def _ack(self, message: AckReceived) -> None:
        action = self.model.acked(message.client_msg_id, message.conversation_id, message.seq)
        if action:
            cid, kind = action
            self.tell(f"{_DONE_WORDS[kind]}: {self.model.visitor_name(cid)}", timeout=3)
        self.schedule_redraw()

    @on(ErrorReceived)
    def _error(self, message: ErrorReceived) -> None:
        if message.request_id and self.requests.refused(
            message.request_id, message.code, message.detail
        ):
            return
        if message.conversation_id and self.peeked(message.conversation_id, None):
            return
        action = self.model.take_action(message.client_msg_id)
        error = f"{message.code}: {message.detail}"
        failed = self.model.fail_send(message.client_msg_id, error)
        if failed is not None:
            _send_failed(self, *failed)
            return
        if not action and self.model.open_failed(message.conversation_id, error):
            self.schedule_redraw()
        if action:
            _action_refused(self, *action)
        what = f"{action[1]} failed" if action else "Server error"
        self.tell(f"{message.detail} ({message.code})", title=what, severity="error", timeout=6)

    @on(TypingChanged)
    def _typing(self, message: TypingChanged) -> None:
        if self.model.typing(message.conversation_id, message.role, message.name, message.active):
            self.schedule_redraw()


def _close(app: AgentApp, cid: str) -> None:
    """Forget ``cid`` and tell the server (no more of its events), back to the queue."""
    app.model.close(cid)
    app.typing.stop(cid)
    app._send_in_background(AClose(type="close", conversation_id=cid))
    app.show_queue()


def _send_failed(app: AgentApp, conv: ConversationState, restored: bool) -> None:
    """The server refused a reply or note in ``conv``; ``restored``: its text went back to
    the draft, shown again in the box when the conversation is on screen."""
    shown = app.shown
    if restored and isinstance(shown, ConversationScreen):
        shown.restore_draft(conv.conversation_id)
    app.schedule_redraw()


def _action_refused(app: AgentApp, cid: str, kind: str) -> None:
    """The server refused action ``kind`` on ``cid``. For a claim (another agent took it
    first): the screen went to writing mode at the key; back to reading mode, so the next
    letter keys act instead of typing into a reply the agent cannot send (the draft is
    kept)."""
    shown = app.shown
    if kind == "claim" and isinstance(shown, ConversationScreen) and shown.conversation_id == cid:
        app.call_later(shown.leave_writing)


def _erased(app: AgentApp, cid: str) -> None:
    """``cid`` was erased from the store: its row goes and, if it was open, so does the
    conversation (back to the queue when it was on screen); the notice names no one,
    since what was known of the visitor is what was erased."""
    screen = app.shown
    if isinstance(screen, ConversationScreen) and screen.conversation_id == cid:
        app.show_queue()
    app.typing.forget(cid)
    if app.model.erased(cid):
        app.tell(
            "A conversation you had open was erased from the store; it is closed.",
            title="Conversation erased",
            timeout=6,
        )


def _fits(app: AgentApp, text: str) -> bool:
    """Whether ``text`` is within the server's limit; if not, the agent is told so."""
    limit = app.model.limits.max_message_chars
    if len(text) > limit:
        app.tell(f"Too long: {len(text)} characters (limit {limit}).", severity="error")
    return len(text) <= limit


def make_app(
    settings: TUISettings,
    client: AgentClient | None = None,
    clock: Clock | None = None,
    *,
    operator: bool = False,
) -> AgentApp:
    """Build the agent app.

    ``client`` opens connections (default: the real server at ``settings.server_url`` with
    ``settings.token``); tests pass the in-memory ``FakeClient`` (``tests/fake.py``) or a client for
    a server on an ephemeral port. ``clock`` defaults to the system clock; tests fix it.
    ``operator``: open the operator screens as soon as the server signs the token in as an
    operator's (``handoff operator``); an agent's token then stops the app with
    :attr:`AgentApp.refusal` set.
    """
    return AgentApp(
        settings,
        client or ServerClient(settings.server_url, settings.token),
        clock or SystemClock(),
        operator=operator,
    )
