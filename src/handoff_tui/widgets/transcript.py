"""The conversation transcript: one line widget per event, styled by who spoke.

An AI answer (KB text, written in Markdown) is its line (time, confidence, sources)
and, under it, the text drawn as Markdown by rich's ``Markdown`` renderable
(:class:`TranscriptMarkdown`): Markdown only, never console markup, its control
characters shown (:func:`~handoff_tui.text.visible`), links not made clickable. What
visitors and agents write stays plain text.
"""

from __future__ import annotations

from rich.markdown import Markdown
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from handoff_server.protocol import (
    AgentMessage,
    AiMessage,
    CallbackDone,
    CallbackRequested,
    Claimed,
    ConversationStarted,
    Escalated,
    Event,
    FallbackChosen,
    HandedBack,
    Note,
    OfflineMessage,
    OfflineReply,
    Released,
    Requeued,
    Resolved,
    Transferred,
    VisitorMessage,
)
from handoff_tui.formatting import confidence_style, trigger_sentence
from handoff_tui.model import PendingSend
from handoff_tui.text import fill, visible

__all__ = [
    "Transcript",
    "TranscriptLine",
    "TranscriptMarkdown",
    "ai_markdown",
    "event_content",
    "event_lines",
]

TranscriptItem = tuple[Content | Markdown, str]
"""One transcript widget's content and CSS class: ``Content`` for a
:class:`TranscriptLine`, ``Markdown`` for a :class:`TranscriptMarkdown`."""

M = fill


def _said(template: str, text: str, **values: str) -> Content:
    # What someone said keeps its line breaks; names and the rest stay on one line.
    return M(template, one_line=True, **values) + fill("  $text", one_line=False, text=text)


def _who(event: AgentMessage | Note | Claimed | Released | HandedBack | Resolved) -> str:
    return event.data.agent.name or "agent"


def _text(event: Event) -> str:
    """What the event says in words (a claim or a start says nothing)."""
    if isinstance(event, ConversationStarted | Claimed | FallbackChosen):
        return ""
    if isinstance(event, CallbackRequested):
        return callback_words(event)
    if isinstance(event, Released | HandedBack | Resolved | CallbackDone):
        return event.data.text or ""  # the agent's words on an action are optional
    if isinstance(event, Transferred):
        return event.data.note or ""
    return event.data.text


def callback_words(event: CallbackRequested) -> str:
    """A call-back request in a few words: how, when, the visitor's note."""
    data = event.data
    how = " or ".join(x for x in (data.phone, data.email) if x)
    when = f"{data.preferred_at:%a %d %b %H:%M} UTC" if data.preferred_at else "as soon as possible"
    return f"{how}, {when}" + (f" · {data.note}" if data.note else "")


_DONE_BY = {
    "claimed": "claimed by {who}",
    "released": "released to the queue by {who}",
    "handed_back": "handed back to the AI by {who}",
    "resolved": "resolved by {who}",
}


def _ai_line(event: AiMessage, at: str, text: str) -> Content:
    conf = event.data.confidence
    threshold = event.data.threshold
    if conf is None:
        badge = M("[$text-muted]\\[no confidence][/]")
    else:
        sign = "≥" if threshold is None or conf >= threshold else "<"
        limit = f" {sign} {threshold:.2f}" if threshold is not None else ""
        badge = M(
            f"[b {confidence_style(conf, threshold)}]\\[$conf$limit][/]",
            conf=f"{conf:.2f}",
            limit=limit,
        )
    names = ", ".join(event.data.sources)
    line = M("[dim]$at[/] [b $secondary]AI[/] ", at=at) + badge
    if names:
        line += M("  [dim i]sources: $names[/]", names=names)
    return line


def ai_markdown(text: str) -> Markdown:
    """An AI answer's text as rich's Markdown renderable: the text's control characters
    shown first (:func:`~handoff_tui.text.visible`), so it can neither move the cursor
    nor change the terminal; Markdown syntax only (rich's console markup is not parsed
    there); links are drawn as text, not terminal hyperlinks."""
    return Markdown(visible(text), hyperlinks=False)


def _system_what(event: Event, text: str) -> str:
    """What a system line says about ``event`` (escalation, claim, start, ...)."""
    kind = event.kind
    if isinstance(event, Escalated):
        extra = []
        if event.data.priority:
            extra.append(f"priority {event.data.priority}")
        if event.data.team:
            extra.append(f"team {event.data.team}")
        return trigger_sentence(event.data.trigger) + "".join(f" · {e}" for e in extra)
    if isinstance(event, Claimed | Released | HandedBack | Resolved):
        what = _DONE_BY[kind].format(who=_who(event))
        return f"{what}: {text}" if text else what
    if isinstance(event, Transferred):
        who = event.data.agent.name if event.data.agent else "agent"
        to = event.data.to_agent.name if event.data.to_agent else f"team {event.data.to_team}"
        return f"transferred by {who} to {to}" + (f": {text}" if text else "")
    if isinstance(event, Requeued):
        return event.data.text or "back in the queue"
    if isinstance(event, ConversationStarted):
        page = event.data.visitor.page_url
        return "conversation started" + (f" on {page}" if page else "")
    if isinstance(event, FallbackChosen):
        return f"the visitor chose: {_CHOSEN.get(event.data.option, event.data.option)}"
    if isinstance(event, CallbackDone):
        what = f"call back done by {event.data.agent.name}"
        return f"{what}: {text}" if text else what
    return text or kind.replace("_", " ")


_CHOSEN = {"wait": "wait in the queue", "ai_continues": "go on with the AI until a person comes"}


def event_content(event: Event, visitor_name: str) -> tuple[Content, str]:
    """The line for ``event`` and its CSS class (``-visitor``, ``-ai``, ``-agent``,
    ``-note``, ``-system``)."""
    at = event.at.strftime("%H:%M:%S")
    text = _text(event)
    if isinstance(event, VisitorMessage):
        return _said("[dim]$at[/] [b $primary]$who[/]", text, at=at, who=visitor_name), "-visitor"
    if isinstance(event, AiMessage):
        return _ai_line(event, at, text), "-ai"
    if isinstance(event, AgentMessage):
        return _said("[dim]$at[/] [b $success]$who[/]", text, at=at, who=_who(event)), "-agent"
    if isinstance(event, Note):
        note = "[dim]$at[/] [b]$who · internal note[/]"
        return _said(note, text, at=at, who=_who(event)), "-note"
    if isinstance(event, CallbackRequested):
        ask = "[dim]$at[/] [b $primary]$who[/] [b]asked for a call back[/]"
        return _said(ask, text, at=at, who=visitor_name), "-visitor"
    if isinstance(event, OfflineMessage):
        left = "[dim]$at[/] [b $primary]$who[/] [b]left a message[/] [dim](answer to $email)[/]"
        return _said(left, text, at=at, who=visitor_name, email=event.data.email), "-visitor"
    if isinstance(event, OfflineReply):
        sent = "[dim]$at[/] [b $success]$who[/] [b]answered by email[/] [dim](to $email)[/]"
        return _said(sent, text, at=at, who=event.data.agent.name, email=event.data.email), "-agent"
    return M("[dim]$at[/] ── $what ──", at=at, what=_system_what(event, text)), "-system"


def event_lines(event: Event, visitor_name: str) -> list[TranscriptItem]:
    """The transcript widgets of ``event``: its line (:func:`event_content`) and, for an
    AI answer, its text as Markdown under it (class ``-ai``)."""
    line = event_content(event, visitor_name)
    if isinstance(event, AiMessage):
        return [line, (ai_markdown(event.data.text), "-ai")]
    return [line]


def pending_content(pending: PendingSend, me: str) -> Content:
    """The line for a reply or note the server has not acknowledged yet."""
    label = "internal note" if pending.kind == "note" else "reply"
    if pending.status == "failed":
        state = M("[b $error]✗ not sent: $why[/]", why=pending.error or "failed")
    else:
        state = M("[$warning]… sending[/]")
    line = _said(
        "[dim]--:--:--[/] [b]$me[/] [dim]($label)[/]", pending.text or "", me=me, label=label
    )
    return line + M("  ") + state


def partial_content(text: str) -> Content:
    """The line for the AI's answer while it is written: provisional, replaced by the
    stored answer or withdrawn."""
    return _said("[dim]--:--:--[/] [b]AI[/] [dim](writing…)[/]", text)


class TranscriptLine(Static):
    """One event (or one unacknowledged reply) in the transcript."""


class TranscriptMarkdown(Static):
    """An AI answer's text drawn as Markdown, under its :class:`TranscriptLine`."""


class Transcript(VerticalScroll, can_focus=True):
    """Transcript lines, oldest first; keeps to the bottom as lines arrive.

    Focused, it holds the conversation screen's reading-mode keys (letters would type
    into the reply box): c claim, r resolve, l release, b hand back, t transfer, x call
    back done, i write, d KB draft, w close, y / n accept or decline an offer, k new KB
    entry from the last agent reply (operators).
    """

    BINDINGS = [
        Binding("c", "screen.act('claim')", "Claim", id="conv.claim"),
        Binding("r", "screen.act('resolve')", "Resolve", id="conv.resolve"),
        Binding("l", "screen.act('release')", "Release", id="conv.release"),
        Binding("b", "screen.act('handback')", "Hand back", id="conv.handback"),
        Binding("t", "screen.transfer", "Transfer", id="conv.transfer"),
        Binding("x", "screen.callback_done", "Called back", id="conv.callback_done"),
        Binding("i", "screen.focus_reply", "Write", id="conv.reply"),
        Binding("d", "screen.insert_draft", "KB draft", id="conv.draft_key", show=False),
        Binding("w", "app.close_conversation", "Close", id="conv.close", show=False),
        Binding("y", "app.answer_offer(True)", "Accept offer", id="conv.accept", show=False),
        Binding("n", "app.answer_offer(False)", "Decline offer", id="conv.decline", show=False),
        Binding("k", "screen.kb_entry", "New KB entry", id="conv.kb_entry", show=False),
    ]

    def show(self, lines: list[TranscriptItem]) -> None:
        """Show exactly ``lines`` (content, css class), reusing widgets in place while
        their kind (line or Markdown) matches; the rest is replaced."""
        at_bottom = self.scroll_y >= self.max_scroll_y - 1
        existing = [w for w in self.children if isinstance(w, TranscriptLine | TranscriptMarkdown)]
        kept = 0
        for widget, (content, cls) in zip(existing, lines, strict=False):
            if isinstance(widget, TranscriptMarkdown) != isinstance(content, Markdown):
                break
            widget.update(content)
            widget.set_classes(cls)
            kept += 1
        for widget in existing[kept:]:
            widget.remove()
        if len(lines) > kept:
            self.mount_all(_widget(content, cls) for content, cls in lines[kept:])
        if at_bottom:
            self.call_after_refresh(self.scroll_end, animate=False)


def _widget(content: Content | Markdown, cls: str) -> TranscriptLine | TranscriptMarkdown:
    if isinstance(content, Markdown):
        return TranscriptMarkdown(content, classes=cls)
    return TranscriptLine(content, classes=cls)
