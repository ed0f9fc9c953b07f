"""Dialogs over a conversation: resolve (how it ended, the verdict on the AI's answer),
transfer (to a team or an agent, with a note for colleagues), and the question asked
before the other actions that give up or end it (:func:`ask_first`: release, hand back,
call back done).

Each is a modal screen dismissed with what the agent chose (``None`` when they cancel
with ``escape``); the conversation screen sends it. Keyboard first: ↑ ↓ choose, enter
goes to the next question and, on the last, confirms. Each has its own footer with the
keys that work where the focus is (the conversation's keys behind it do nothing while
the dialog is open): "↑↓ Choose ⏎ Next esc Cancel", then "⏎ Resolve" or "⏎ Transfer".
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from handoff_server.protocol import AI_VERDICTS, RESOLUTIONS, AiVerdict, Resolution
from handoff_tui.model import TransferTarget
from handoff_tui.text import fill, plain
from handoff_tui.widgets.confirm import ConfirmModal

__all__ = ["ASKED_FIRST", "ResolveDialog", "TransferDialog", "ask_first"]

ASKED_FIRST: dict[str, tuple[str, str, str]] = {
    "release": (
        "Release",
        "$who goes back to the queue, for any agent to claim; you no longer hold the conversation.",
        "release",
    ),
    "handback": (
        "Hand back to the AI",
        "The AI answers $who again; the conversation leaves the queue and no agent holds it.",
        "hand back",
    ),
    "callback_done": (
        "Call back done",
        "You have called $who back: this resolves the conversation.",
        "mark it done",
    ),
}
"""The actions that give up or end a conversation without a dialog of their own (resolve
and transfer have theirs), by action kind: the question's title, what will happen
(``$who``: the visitor) and the word for going ahead."""


def ask_first(kind: str, visitor: str) -> ConfirmModal:
    """The question asked before ``kind`` (a key of :data:`ASKED_FIRST`) on
    ``visitor``'s conversation: it names the visitor and says what will happen; enter
    goes ahead (dismissed with ``""``), escape or any other key cancels (``None``).
    Raises KeyError for another kind."""
    title, what, word = ASKED_FIRST[kind]
    heading = fill("$title · $who", title=title, who=visitor)
    return ConfirmModal(heading, [fill(what, who=visitor)], word, comment=False, small=True)


RESOLUTION_WORDS: dict[Resolution, str] = {
    "answered": "the visitor's need was met",
    "referred": "sent to another channel (email, phone, a ticket)",
    "no_response": "the visitor stopped answering",
    "duplicate": "another conversation covers it",
    "spam": "not a real request",
    "other": "none of these",
}
"""What each resolution code means, for the agent choosing one."""

VERDICT_WORDS: dict[AiVerdict, str] = {
    "right": "right (a person was still needed)",
    "wrong": "wrong",
    "not_attempted": "not attempted (the AI did not answer)",
}
"""The verdicts on the AI's answer, for the agent choosing one."""

NO_VERDICT = "-"


def _keys(text: str) -> Static:
    return Static(fill("[dim]$t[/]", t=text), classes="dialog-keys")


class _Choices(OptionList):
    """A dialog's list: the footer shows "↑↓ Choose" and what enter does here."""

    BINDINGS = [Binding("up", "cursor_up", "Choose", key_display="↑↓")]


class _ResolutionChoices(_Choices):
    BINDINGS = [Binding("enter", "select", "Next")]


class _VerdictChoices(_Choices):
    BINDINGS = [Binding("enter", "select", "Resolve")]


class _TargetChoices(_Choices):
    BINDINGS = [Binding("enter", "select", "Note")]


class _NoteInput(Input):
    BINDINGS = [Binding("enter", "submit", "Transfer")]


class ResolveDialog(ModalScreen[tuple[Resolution, AiVerdict | None] | None]):
    """Resolve a conversation: a resolution code, then the verdict on the AI's answer
    (or none). Dismissed with ``(resolution, verdict)``, or ``None`` on escape."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog.cancel")]

    def __init__(self, visitor: str) -> None:
        super().__init__()
        self.visitor = visitor

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(fill("[b]Resolve[/] · $who", who=self.visitor), classes="dialog-title")
            yield Static("How did it end?")
            yield _ResolutionChoices(
                *[
                    Option(plain(f"{code:<12} {RESOLUTION_WORDS[code]}"), id=code)
                    for code in RESOLUTIONS
                ],
                id="resolution",
            )
            yield Static("Was the AI's answer right?")
            yield _VerdictChoices(
                Option(plain("no verdict"), id=NO_VERDICT),
                *[Option(plain(VERDICT_WORDS[v]), id=v) for v in AI_VERDICTS],
                id="verdict",
            )
            yield _keys("↑↓ choose · enter: next, then resolve · esc cancel")
        yield Footer()

    def on_mount(self) -> None:
        for options in self.query(OptionList):
            options.highlighted = 0
        self.query_one("#resolution", OptionList).focus()

    @on(OptionList.OptionSelected, "#resolution")
    def _resolution_chosen(self) -> None:
        self.query_one("#verdict", OptionList).focus()

    @on(OptionList.OptionSelected, "#verdict")
    def _verdict_chosen(self, event: OptionList.OptionSelected) -> None:
        resolution = self.query_one("#resolution", OptionList)
        code = resolution.get_option_at_index(resolution.highlighted or 0).id
        verdict = event.option.id
        chosen = next(c for c in RESOLUTIONS if c == code)
        self.dismiss((chosen, next((v for v in AI_VERDICTS if v == verdict), None)))


class TransferDialog(ModalScreen[tuple[TransferTarget, str | None] | None]):
    """Transfer a conversation: choose a team or an agent (agents who cannot take it
    now are shown, not offered), then write a note for colleagues. Dismissed with
    ``(target, note or None)``, or ``None`` on escape."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog.cancel")]

    def __init__(self, visitor: str, targets: list[TransferTarget]) -> None:
        super().__init__()
        self.visitor = visitor
        self.targets = targets

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(fill("[b]Transfer[/] · $who", who=self.visitor), classes="dialog-title")
            yield Static("To a team, or to an agent who is online with a free slot:")
            yield _TargetChoices(
                *[
                    Option(plain(t.label), id=str(n), disabled=not t.available)
                    for n, t in enumerate(self.targets)
                ],
                id="target",
            )
            yield _NoteInput(
                placeholder="Note for colleagues (the visitor never sees it)", id="note"
            )
            yield _keys("↑↓ choose · enter: the note, then transfer · esc cancel")
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one("#target", OptionList)
        first = next((n for n, t in enumerate(self.targets) if t.available), None)
        options.highlighted = first
        options.focus()

    @on(OptionList.OptionSelected, "#target")
    def _target_chosen(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted, "#note")
    def _note_written(self, event: Input.Submitted) -> None:
        options = self.query_one("#target", OptionList)
        if options.highlighted is None:
            options.focus()
            return
        target = self.targets[options.highlighted]
        self.dismiss((target, event.value.strip() or None))
