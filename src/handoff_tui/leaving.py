"""Leaving with unsent text: closing a conversation (``w``) or quitting the app asks first
when a reply box there holds a draft. Drafts live only in this app (the server never
sees a reply before it is sent), so leaving loses them; a key pressed by habit must not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from handoff_tui.model import AgentModel
from handoff_tui.text import fill
from handoff_tui.widgets.confirm import ConfirmModal

__all__ = ["leave", "unsent"]


def unsent(model: AgentModel, cids: list[str]) -> list[str]:
    """The visitors' names (as the app shows them) of the conversations among ``cids``
    whose reply box holds text not sent."""
    conversations = model.conversations
    return [
        model.visitor_name(cid)
        for cid in cids
        if cid in conversations and conversations[cid].draft.strip()
    ]


def leave(
    app: App[Any], model: AgentModel, cids: list[str], word: str, go: Callable[[], object]
) -> None:
    """``go()`` at once when none of ``cids`` holds unsent text (in ``model``); else ask
    first on ``app``, naming whose: enter goes ahead, escape (or any other key) stays,
    the drafts kept. ``word``: the action, for the question (``quit``, ``close``)."""
    names = unsent(model, cids)
    if not names:
        go()
        return
    whose = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    lines = [fill("Unsent text in the reply to $who is lost if you $word.", who=whose, word=word)]
    title = fill("[b]$Word[/] · unsent text", Word=word.capitalize())

    def answered(answer: str | None) -> None:
        if answer is not None:
            go()

    app.push_screen(ConfirmModal(title, lines, word, comment=False, small=True), answered)
