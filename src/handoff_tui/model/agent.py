"""Everything the agent app knows, in one plain object the app updates and screens read.

:class:`AgentModel` holds the queue (:class:`~handoff_tui.model.queue.QueueModel`), the
open conversations (:class:`~handoff_tui.model.conversation.ConversationState`) with their
pending sends, the actions in flight, the link's state and the server's limits. Its methods
take what the server said (frames, already parsed) and say what changed; they never draw,
notify or send, so the model is tested without Textual (``tests/tui/test_tui_model.py``).

A later slice (the operator's view, say) is one more attribute here with its own methods,
and one more screen reading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from handoff_server.protocol import AgentInfo, Event, HandoffPacket, Limits, QueueItem, SOffer
from handoff_tui.model.conversation import ConversationState, PendingSend, acting_agent_id
from handoff_tui.model.names import visitor_label
from handoff_tui.model.operator import OperatorModel
from handoff_tui.model.queue import QueueModel
from handoff_tui.model.staff import DeskFrame, StaffModel

__all__ = ["AgentModel", "LinkStatus", "ServerLimits"]

LinkState = Literal["connecting", "connected", "reconnecting", "starting", "unauthorized"]
"""``starting``: the server answered HTTP 503 ``not_ready`` (it listens but is still
building or loading its AI index): the link waits and tries again, as for a lost one."""


@dataclass
class ServerLimits:
    """What the server accepts and applies. The defaults are the server's own defaults,
    used until (and unless) its ``authenticated`` frame says otherwise."""

    max_message_chars: int = 4000
    """Longest reply or note the server accepts, in characters."""
    threshold: float = 0.70
    """The confidence threshold in force (0–1): colours a confidence that comes without
    its own threshold."""

    def update(self, limits: Limits | None) -> None:
        """Take the ``limits`` of an ``authenticated`` frame; ``None`` (a server older
        than the field) keeps the current values."""
        if limits is None:
            return
        self.max_message_chars = limits.max_message_chars
        self.threshold = limits.threshold


@dataclass
class LinkStatus:
    """The link to the server, as the connection banner shows it."""

    server_url: str = ""
    """Where the server is, for people."""
    state: LinkState = "connecting"
    attempt: int = 0
    """Failed attempts in a row (0 while connected)."""
    retry_in: float = 0.0
    """Seconds until the next attempt."""
    detail: str = ""
    """Why the last attempt failed, for people."""
    ever_connected: bool = False
    """True once a connection has opened: before that a failure means the server cannot
    be reached at all (a wrong ``--server``, or no server running), not a lost link."""
    refusal: str | None = None
    """Why the server refused the token (HTTP 401/403), once it has: the app stops
    retrying, and ``handoff agent`` reports it and exits non-zero."""
    refusal_code: str = "unauthorized"
    """The error code of ``refusal``: ``unauthorized`` (a refused token) or ``forbidden``
    (``handoff operator`` with an agent's token)."""


@dataclass
class AgentModel:
    """The agent's queue, open conversations, actions in flight, link and limits."""

    queue: QueueModel = field(default_factory=QueueModel)
    staff: StaffModel = field(default_factory=StaffModel)
    """The roster, this agent's presence and the conversations offered to them."""
    conversations: dict[str, ConversationState] = field(default_factory=dict)
    """Open conversations by id."""
    open_order: list[str] = field(default_factory=list)
    """Open conversations, in the order they were opened (keys 1–9)."""
    actions_in_flight: dict[str, tuple[str, str]] = field(default_factory=dict)
    """``client_msg_id`` → (conversation id, action) for claims, resolves, releases and
    hand-backs not answered yet."""
    link: LinkStatus = field(default_factory=LinkStatus)
    limits: ServerLimits = field(default_factory=ServerLimits)
    queue_loaded: bool = False
    """True once a whole ``queue`` arrived: only later new rows are worth a notification."""
    operator: OperatorModel = field(default_factory=OperatorModel)
    """The policy, its edit and the reports of the operator screens (operators only)."""

    @property
    def is_operator(self) -> bool:
        """True when the server signed this token in as an operator."""
        return self.queue.me is not None and self.queue.me.role == "operator"

    # ----------------------------------------------------------------- link

    def link_changed(self, state: LinkState, retry_in: float, detail: str) -> bool:
        """The link went up or down (``detail``: why, for people). Returns True when it
        came back after failed attempts (worth saying so). ``unauthorized`` records the
        refusal."""
        self.link.state = state
        self.link.retry_in = retry_in
        self.link.detail = detail
        if state == "unauthorized":
            self.link.refusal = (
                f"the server at {self.link.server_url} refused the token ({detail or 'HTTP 401'})"
            )
        if state == "connected":
            # Waiting for a server to start, or to be reachable, is no reconnection.
            reconnected = self.link.attempt > 0 and self.link.ever_connected
            self.link.ever_connected = True
            self.link.attempt = 0
            return reconnected
        return False

    def signed_in(self, agent: AgentInfo, limits: Limits | None = None) -> None:
        """The server accepted the token as ``agent`` and (newer servers) said its
        ``limits``."""
        self.queue.me = agent
        self.limits.update(limits)

    # ----------------------------------------------------------------- queue

    def replace_queue(self, items: list[QueueItem]) -> None:
        """A whole ``queue`` snapshot."""
        self.queue.replace(items)
        self.queue_loaded = True

    def apply_queue_item(self, item: QueueItem) -> str | None:
        """One ``queue_item``; the title of the notification it is worth: ``New
        escalation`` for a conversation newly queued, ``Back in the queue`` for one a
        colleague held (released, or transferred to a team), ``None`` for no news
        (before the first ``queue`` snapshot, any other change, this agent's own
        release, which its ack already told)."""
        self.staff.settle(item.conversation_id, item.status)
        old = self.queue.items.get(item.conversation_id)
        if not (self.queue.apply(item) and self.queue_loaded):
            return None
        if old is None or old.status != "assigned":
            return "New escalation"
        me, holder = self.queue.me, old.assigned_agent
        return None if me and holder and holder.id == me.id else "Back in the queue"

    def erased(self, cid: str) -> bool:
        """The server says ``cid`` was erased from the store: its row, an offer of it and,
        if open, the conversation with its draft and pending sends go, so nothing of the
        visitor stays. Returns True when it was open."""
        self.staff.settle(cid, "resolved")
        self.queue.remove(cid)
        self.actions_in_flight = {
            cmid: action for cmid, action in self.actions_in_flight.items() if action[0] != cid
        }
        if cid not in self.open_order:
            return False
        self.close(cid)
        return True

    def desk_changed(self, frame: DeskFrame) -> SOffer | None:
        """A desk frame (roster, offer); returns a new offer (worth telling). The queue
        lists this agent's teams first once the roster says which they are."""
        offer = self.staff.apply(frame)
        me = self.staff.me(self.queue.me.id if self.queue.me else None)
        # No teams on the roster means every team (``handoff agents list``: "(every team)").
        self.queue.set_teams(
            frozenset(me.teams) if me else frozenset(), every_team=me is not None and not me.teams
        )
        return offer

    # ----------------------------------------------------------------- conversations

    def open(self, cid: str) -> bool:
        """Open ``cid`` (state from its queue row until its packet arrives). Returns True
        when it was not open yet: the server must be asked for it."""
        if cid not in self.conversations:
            # Until its packet arrives, what is known comes from the queue row.
            item = self.queue.items.get(cid)
            self.conversations[cid] = ConversationState(cid, status=item.status if item else "")
        if cid in self.open_order:
            return False
        self.open_order.append(cid)
        return True

    def close(self, cid: str) -> None:
        """Forget ``cid``: no more events are taken for it."""
        self.open_order.remove(cid)
        self.conversations.pop(cid, None)

    def next_open(self, current: str | None) -> str | None:
        """The open conversation after ``current`` (the first from the queue, ``None``);
        ``None`` after the last (back to the queue) or when none is open."""
        if current is None or current not in self.open_order:
            return self.open_order[0] if self.open_order else None
        n = self.open_order.index(current) + 1
        return self.open_order[n] if n < len(self.open_order) else None

    def visitor_name(self, cid: str) -> str:
        """The visitor's name (or email) for ``cid``, from what has been received."""
        conv = self.conversations.get(cid)
        visitor = conv.packet.visitor if conv and conv.packet else None
        if visitor is None and cid in self.queue.items:
            visitor = self.queue.items[cid].visitor
        if visitor is None:
            return cid[:8]
        return visitor_label(visitor)

    def tabs(self, current: str | None) -> list[tuple[str, int, bool]]:
        """(visitor name, unread count, is ``current``) of each open conversation."""
        return [
            (self.visitor_name(cid), self.conversations[cid].unread, cid == current)
            for cid in self.open_order
        ]

    def load(self, packet: HandoffPacket) -> bool:
        """The answer to ``open``; False when the conversation was closed meanwhile."""
        conv = self.conversations.get(packet.conversation_id)
        if conv is None:
            return False
        for event in conv.load(packet):
            self._settle_pending(conv, event.seq, event.client_msg_id)
        return True

    def add_event(self, event: Event, showing: bool) -> bool:
        """A live event; ``showing``: its conversation is on screen (so not unread).
        Returns False when it changes nothing (not open, or already received)."""
        conv = self.conversations.get(event.conversation_id)
        if conv is None or not conv.add(event):
            return False
        self._settle_pending(conv, event.seq, event.client_msg_id)
        mine = self.queue.me and acting_agent_id(event) == self.queue.me.id
        if not showing and not mine:
            conv.unread += 1
        if event.actor == "visitor":
            conv.visitor_typing = False
        if event.actor == "ai" or event.kind == "escalated":
            conv.ai_partial = None  # the turn's outcome replaces any text still shown
        return True

    def _settle_pending(self, conv: ConversationState, seq: int, cmid: str | None) -> None:
        for key, pending in list(conv.pending.items()):
            if key == cmid or pending.acked_seq == seq:
                del conv.pending[key]

    def typing(self, cid: str, role: str, name: str | None, active: bool) -> bool:
        """Someone started or stopped typing in ``cid``; False when it is not open."""
        conv = self.conversations.get(cid)
        if conv is None:
            return False
        if role == "visitor":
            conv.visitor_typing = active
        elif not (self.queue.me and name == self.queue.me.name):
            conv.agent_typing = (name or "another agent") if active else None
        return True

    def ai_partial(self, cid: str, text: str | None) -> bool:
        """The AI's text so far in ``cid`` (``None``: it ended); False when not open."""
        conv = self.conversations.get(cid)
        if conv is None:
            return False
        conv.ai_partial = text
        return True

    # ----------------------------------------------------------------- what the agent sends

    def add_pending(self, cid: str, kind: Literal["reply", "note"], cmid: str, text: str) -> None:
        """A reply or note sent as ``cmid``: shown as "sending" until acknowledged. Failed
        lines have been seen by then; the new send replaces them."""
        conv = self.conversations[cid]
        for key in [k for k, p in conv.pending.items() if p.status == "failed"]:
            del conv.pending[key]
        conv.pending[cmid] = PendingSend(cmid, kind, text)

    def acked(self, cmid: str, cid: str, seq: int) -> tuple[str, str] | None:
        """The server stored ``cmid`` as event ``seq`` of ``cid``. Returns the action
        (conversation id, kind) it answered, if ``cmid`` was one."""
        action = self.actions_in_flight.pop(cmid, None)
        conv = self.conversations.get(cid)
        pending = conv.pending.get(cmid) if conv else None
        if conv and pending:
            if seq in conv.events:
                del conv.pending[cmid]
            else:
                # The event itself follows on the subscription; drop the pending line then.
                pending.acked_seq = seq
        return action

    def take_action(self, cmid: str | None) -> tuple[str, str] | None:
        """The action in flight as ``cmid`` (conversation id, kind), now answered."""
        return self.actions_in_flight.pop(cmid, None) if cmid else None

    def fail_send(self, cmid: str | None, error: str) -> tuple[ConversationState, bool] | None:
        """The server refused the reply or note ``cmid`` with ``error``. Returns its
        conversation and whether the text went back into an empty draft; ``None`` when
        ``cmid`` is no pending send."""
        for conv in self.conversations.values():
            if cmid and cmid in conv.pending:
                pending = conv.pending[cmid]
                pending.status = "failed"
                pending.error = error
                if not conv.draft.strip() and pending.text:
                    # Give the text back so the agent can fix the cause and send again.
                    conv.draft = pending.text
                    return conv, True
                return conv, False
        return None

    def open_failed(self, cid: str | None, error: str) -> bool:
        """The server refused to open ``cid`` with ``error``; False when that refusal is
        not about a conversation still loading."""
        conv = self.conversations.get(cid or "")
        if conv is None or conv.packet is not None:
            return False
        conv.load_error = error
        return True
