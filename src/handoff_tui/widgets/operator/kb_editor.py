"""The KB entry editor: a new entry prefilled with visitors' questions and an agent's
answer (from a knowledge gap, or from an agent's reply in a conversation), sent as
``kb_entry_create``. The server writes it in the KB's Markdown format and answers once
the new index is in use; a refusal (an id that exists: ``conflict``) is shown here."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import Event
from handoff_server.protocol_operator import KbEntryDraft, OKbEntryCreate, SKbEntryCreated
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.text import fill
from handoff_tui.widgets.operator.pane import OperatorActions

__all__ = ["KbEntryEditor", "agent_answer", "entry_id", "visitor_questions"]


def entry_id(title: str) -> str:
    """A file-name stem for an entry titled ``title``: lowercase words joined by ``-``
    (letters and digits only, at most 64 characters; ``entry`` when none are left)."""
    words = re.findall(r"[a-z0-9]+", title.casefold())
    stem = "-".join(words)[:64].strip("-")
    return stem or "entry"


def agent_answer(events: Sequence[Event]) -> str:
    """The text of the last reply an agent sent among ``events`` (``""`` for none)."""
    for event in reversed(events):
        if event.kind == "agent_message":
            return str(getattr(event.data, "text", "") or "")
    return ""


def visitor_questions(events: Sequence[Event], limit: int = 5) -> list[str]:
    """The visitor's messages among ``events`` before the last agent reply (all of them
    when there is none), at most ``limit``, oldest first."""
    events = list(events)
    last_reply = max((n for n, e in enumerate(events) if e.kind == "agent_message"), default=None)
    if last_reply is not None:
        events = events[:last_reply]
    texts = [str(getattr(e.data, "text", "")) for e in events if e.kind == "visitor_message"]
    return [t for t in texts if t.strip()][:limit]


def _row(label: str, widget: Input | TextArea) -> Horizontal:
    return Horizontal(Static(label, classes="editor-label"), widget, classes="editor-row")


class KbEntryEditor(ModalScreen[str | None]):
    """Edit and create one KB entry; returns the new entry's id, or ``None`` when
    cancelled. ctrl+s sends it; the editor stays until the server has reindexed."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Create entry", id="kb.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="kb.cancel"),
    ]

    def __init__(self, questions: list[str], answer: str = "", source: str = "") -> None:
        super().__init__()
        self.questions = [q.strip() for q in questions if q.strip()]
        self.answer = answer
        self.source = source
        self._request: str | None = None

    def compose(self) -> ComposeResult:
        title = (self.questions[0] if self.questions else "")[:200]
        with Vertical(classes="editor kb-editor") as box:
            box.border_title = "New KB entry"
            if self.source:
                yield Static(fill("[dim]$s[/]", s=self.source))
            yield _row("title", Input(title, id="kb-title", compact=True, max_length=200))
            yield _row("id", Input(entry_id(title), id="kb-id", compact=True, max_length=64))
            yield _row("team", Input("", id="kb-team", compact=True, placeholder="(none)"))
            questions = TextArea("\n".join(self.questions), id="kb-questions", compact=True)
            yield _row("questions", questions)
            yield _row("answer", TextArea(self.answer, id="kb-answer", compact=True))
            yield Static(classes="editor-error")
            yield Static(
                fill("[dim]ctrl+s create and reindex · esc cancel · questions one a line[/]"),
                classes="editor-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#kb-answer" if not self.answer else "#kb-title").focus()

    @on(Input.Changed, "#kb-title")
    def _title_changed(self, event: Input.Changed) -> None:
        self.query_one("#kb-id", Input).value = entry_id(event.value)

    def _error(self, text: str) -> None:
        self.query_one(".editor-error", Static).update(fill("[b $error]✗ $t[/]", t=text))

    def draft(self) -> KbEntryDraft | None:
        """The entry as typed, or ``None`` after saying what is wrong with it."""
        text = self.query_one("#kb-questions", TextArea).text
        try:
            return KbEntryDraft(
                id=self.query_one("#kb-id", Input).value.strip(),
                title=self.query_one("#kb-title", Input).value.strip(),
                questions=[q.strip() for q in text.splitlines() if q.strip()],
                answer=self.query_one("#kb-answer", TextArea).text.strip(),
                team=self.query_one("#kb-team", Input).value.strip() or None,
            )
        except ValidationError as exc:
            self._error(
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            )
            return None

    def action_save(self) -> None:
        """Send the entry (once: wait for the answer)."""
        if self._request is not None:
            return
        entry = self.draft()
        if entry is None:
            return
        desk: OperatorActions = self.app  # type: ignore[assignment]
        self._error("")
        self.query_one(".editor-error", Static).update(fill("[$warning]writing and reindexing…[/]"))
        self._request = desk.ask(
            self, OKbEntryCreate, type="kb_entry_create", client_msg_id=new_client_msg_id(),
            entry=entry,
        )  # fmt: skip

    def action_cancel(self) -> None:
        """Close without creating anything (an entry already sent is still created)."""
        self.dismiss(None)

    @on(OperatorReply)
    def _created(self, message: OperatorReply) -> None:
        frame = message.frame
        if isinstance(frame, SKbEntryCreated):
            desk: OperatorActions = self.app  # type: ignore[assignment]
            desk.tell(
                f"{frame.entry_id} written to {frame.path}; the AI now answers from "
                f"{frame.entries} entries.",
                title="KB entry created",
                timeout=6,
            )
            self.dismiss(frame.entry_id)

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        self._request = None
        self._error(f"{message.detail} ({message.code})")
