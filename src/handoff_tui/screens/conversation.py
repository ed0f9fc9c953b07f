"""The conversation screen: transcript and reply box on the left, handoff panel on the right."""

from __future__ import annotations

from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static, TextArea

from handoff_server.protocol import AgentInfo, AiVerdict, Resolution
from handoff_tui.model import ConversationState, TransferTarget, allowed, status_hint
from handoff_tui.screens.base import AgentScreen
from handoff_tui.screens.dialogs import ASKED_FIRST, ResolveDialog, TransferDialog, ask_first
from handoff_tui.text import fill
from handoff_tui.widgets.banner import ConnectionBanner, OfferBar, OpenBar
from handoff_tui.widgets.handoff_panel import HandoffPanel
from handoff_tui.widgets.operator.kb_editor import KbEntryEditor, agent_answer, visitor_questions
from handoff_tui.widgets.reply_box import ReplyBox, ReplyEditor
from handoff_tui.widgets.transcript import (
    Transcript,
    event_lines,
    partial_content,
    pending_content,
)

__all__ = ["ConversationScreen"]


class ConversationScreen(AgentScreen):
    """One open conversation, in two modes. Reading (the transcript focused): letter keys
    act (``c`` claim, ``r`` resolve, ``x`` call back done…, see :class:`Transcript`).
    Writing (the reply box focused): ctrl keys send (``ctrl+e``: the answer to an offline
    message, by email; see :class:`ReplyEditor`). ``escape`` leaves the box, then
    goes back to the queue. The footer shows the current mode's keys for what the
    conversation's status allows; the command palette lists every action."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="conv.back"),
        Binding("ctrl+o", "app.next_conversation", "Next open", id="conv.next", show=False),
        *[
            Binding(str(n), f"app.show_open({n})", f"Open #{n}", show=False, id=f"conv.open{n}")
            for n in range(1, 10)
        ],
    ]
    COMMAND_SOURCES = (Transcript, ReplyEditor)
    """Widgets whose key bindings the command palette also lists (for this screen)."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__()
        self.conversation_id = conversation_id

    @property
    def conv(self) -> ConversationState:
        """This screen's conversation state."""
        return self.model.conversations[self.conversation_id]

    def compose(self) -> ComposeResult:
        yield Static(id="title-bar")
        yield ConnectionBanner(id="banner")
        yield OpenBar(id="open-bar")
        yield OfferBar(id="offer-bar")
        with Horizontal(id="split"):
            with Vertical(id="left"):
                yield Transcript(id="transcript")
                yield ReplyBox(id="reply")
            yield HandoffPanel(id="panel")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        reply = self.query_one(ReplyBox)
        if self.conv.draft:
            reply.set_text(self.conv.draft)
        if self._mine():
            reply.editor.focus()
        else:
            # Not ours yet: keep the letter keys (c to claim) working, not typing into the box.
            self.query_one(Transcript).focus()
        self.redraw()

    def _holder(self) -> AgentInfo | None:
        # Before its packet arrives the conversation's holder is known from the queue row.
        item = self.model.queue.items.get(self.conversation_id)
        return self.conv.holder(item.assigned_agent if item else None)

    def _mine(self) -> bool:
        me = self.model.queue.me
        holder = self._holder()
        return bool(me and holder and holder.id == me.id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer claim / resolve / release / hand back, and sending a reply, only where the
        status allows them (a note can always be added)."""
        if action == "transfer":
            # Targets come from the roster: none before the server sent it.
            parameters, known = ("transfer",), self.model.staff.known
            if not known:
                return False
        if action in ("act", "send", "transfer") and parameters:
            return allowed(
                str(parameters[0]), self.conv.status, self._holder(), self.model.queue.me
            )
        if action == "kb_entry":
            return self.model.is_operator and bool(agent_answer(self.conv.transcript))
        if action in ("callback_done", "answer_offline"):
            me, task = self.model.queue.me, self.conv.task()
            return allowed(action, self.conv.status, self._holder(), me, task)
        return True

    def redraw(self) -> None:
        """Redraw from the model."""
        model = self.model
        conv = self.conv
        conv.unread = 0
        packet = conv.packet
        name = model.visitor_name(self.conversation_id)
        who = conv.assigned_agent.name if conv.assigned_agent else "nobody"
        self.query_one("#title-bar", Static).update(
            fill(
                "[b]$name[/] · $status · assigned to [b]$who[/] · $cid",
                name=name,
                status=conv.status or "…",
                who=who,
                cid=self.conversation_id,
            )
        )
        self.draw_bars(self.conversation_id)
        me = model.queue.me.name if model.queue.me else "me"
        lines = [item for e in conv.transcript for item in event_lines(e, name)]
        if packet is None and not lines:
            text = f"could not open: {conv.load_error}" if conv.load_error else "loading…"
            lines = [(fill("$t", t=text), "-system")]
        if conv.ai_partial:
            lines.append((partial_content(conv.ai_partial), "-pending"))
        lines += [(pending_content(p, me), "-pending") for p in conv.pending.values()]
        self.query_one(Transcript).show(lines)
        self.query_one(HandoffPanel).show(conv, self.agent_app.now)
        sending = sum(1 for p in conv.pending.values() if p.status == "sending")
        failed = sum(1 for p in conv.pending.values() if p.status == "failed")
        typing = name if conv.visitor_typing else conv.agent_typing
        hint = status_hint(conv.status, self._holder(), model.queue.me, conv.task())
        self.query_one(ReplyBox).show_status(typing, sending, failed, hint)
        self.refresh_bindings()

    def restore_draft(self, cid: str) -> None:
        """Put ``cid``'s saved draft back in an empty reply box (after a refused send), if
        this screen shows ``cid``."""
        if not self.ready or cid != self.conversation_id:
            return
        reply = self.query_one(ReplyBox)
        if not reply.text.strip():
            reply.set_text(self.conv.draft)

    def action_send(self, kind: Literal["reply", "note"]) -> None:
        """Send the reply box text as a reply (or an internal note)."""
        reply = self.query_one(ReplyBox)
        text = reply.text.strip()
        if not text:
            self.agent_app.tell("Nothing to send.", severity="warning")
            return
        if self.agent_app.send_text(self.conversation_id, kind, text):
            reply.set_text("")
            self.conv.draft = ""

    async def action_act(self, kind: str) -> None:
        """Claim, resolve (asking how it ended, see :class:`ResolveDialog`), release or
        hand back this conversation (asking first, see :func:`ask_first`)."""
        cid = self.conversation_id
        if kind in ASKED_FIRST:
            self._ask_first(kind)
            return
        if kind == "resolve":

            def resolve(chosen: tuple[Resolution, AiVerdict | None] | None) -> None:
                if chosen is not None:
                    self.agent_app.resolve(cid, *chosen)

            name = self.model.visitor_name(cid)
            self.app.push_screen(ResolveDialog(name), resolve)
            return
        self.agent_app.send_action(cid, kind)
        if kind == "claim":
            await self._enter_mode(writing=True)

    def action_transfer(self) -> None:
        """Transfer this conversation to a team or an agent, with a note (see
        :class:`TransferDialog`)."""
        cid = self.conversation_id
        me = self.model.queue.me

        def transfer(chosen: tuple[TransferTarget, str | None] | None) -> None:
            if chosen is not None:
                target, note = chosen
                self.agent_app.transfer(cid, target.agent_id, target.team, note)

        targets = self.model.staff.targets(me.id if me else None)
        self.app.push_screen(TransferDialog(self.model.visitor_name(cid), targets), transfer)

    def action_callback_done(self) -> None:
        """Mark the visitor's call back done (resolves the conversation), asking first."""
        self._ask_first("callback_done")

    def _ask_first(self, kind: str) -> None:
        """Send ``kind`` (release, hand back, call back done) once the agent said yes
        to :func:`ask_first`'s question; nothing on escape or any other key."""
        cid = self.conversation_id

        def answered(answer: str | None) -> None:
            if answer is not None:
                self.agent_app.send_action(cid, kind)

        self.app.push_screen(ask_first(kind, self.model.visitor_name(cid)), answered)

    def action_answer_offline(self) -> None:
        """Send the reply box text as the email answer to the visitor's offline message
        (resolves the conversation)."""
        reply = self.query_one(ReplyBox)
        text = reply.text.strip()
        if not text:
            self.agent_app.tell("Write the answer first.", severity="warning")
            return
        if self.agent_app.send_action(self.conversation_id, "answer_offline", text):
            reply.set_text("")
            self.conv.draft = ""

    async def action_insert_draft(self) -> None:
        """Put the AI's answer (its unsent draft from the KB) into the reply box and write."""
        if self.insert_draft():
            await self._enter_mode(writing=True)

    def insert_draft(self) -> bool:
        """Put the AI's answer (its unsent draft from the KB) into the reply box; False,
        and the agent is told so, when the AI left none."""
        draft = self.conv.draft_answer()
        if not draft:
            self.agent_app.tell("The AI left no answer to use as a draft.", severity="warning")
            return False
        self.query_one(ReplyBox).set_text(draft)
        return True

    def action_kb_entry(self) -> None:
        """Write a KB entry from this conversation: the visitor's questions and the last
        reply an agent sent (operators)."""
        events = self.conv.transcript
        answer = agent_answer(events)
        if not answer:
            self.agent_app.tell("No agent reply here to make a KB entry of.", severity="warning")
            return
        source = f"from {self.model.visitor_name(self.conversation_id)}'s conversation"
        self.app.push_screen(KbEntryEditor(visitor_questions(events), answer, source))

    async def action_focus_reply(self) -> None:
        """Focus the reply box (writing mode)."""
        await self._enter_mode(writing=True)

    async def action_back(self) -> None:
        """Leave the reply box (reading mode); from elsewhere, go back to the queue."""
        if isinstance(self.focused, TextArea):
            await self._enter_mode(writing=False)
        else:
            self.agent_app.show_queue()

    async def leave_writing(self) -> None:
        """Reading mode, if the reply box has the focus (a refused claim); the draft
        stays in the box."""
        if isinstance(self.focused, TextArea):
            await self._enter_mode(writing=False)

    async def _enter_mode(self, *, writing: bool) -> None:
        """Writing mode (the reply box focused) or reading mode (the transcript), the
        footer showing that mode's keys before the next key is taken. On its own the
        footer follows the focus only after the screen's next refresh: a key pressed in
        between went by the keys still shown ("i Write" just after a claim typed an "i"
        into the reply). Keys wait while an action runs, so the next one comes after."""
        target = self.query_one(ReplyBox).editor if writing else self.query_one(Transcript)
        self.set_focus(target)
        footer = self.query_one(Footer)
        with footer._context():  # its compose binds to itself: run it as the footer
            await footer.recompose()

    @on(ReplyBox.Edited)
    def _edited(self, event: ReplyBox.Edited) -> None:
        self.conv.draft = event.text
        # Typing needs the right to reply (the server refuses it otherwise): a draft
        # written before the claim, or restored on opening, says nothing to anyone.
        if event.text.strip() and self.check_action("send", ("reply",)):
            self.agent_app.agent_typing(self.conversation_id)
