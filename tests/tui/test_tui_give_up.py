"""Giving up a conversation asks first, and the footer follows the mode: against a real
server on an ephemeral port, with a real visitor.

After ``c`` the focus moved into the reply box at once but the footer followed a refresh
later (Textual rebuilds it after the screen's next refresh): a key pressed meanwhile went
by the keys still shown, "i Write", and typed an "i" into the reply.

In reading mode a letter acted at once: an agent who left the reply box (esc) and typed
on ("let me check") released the visitor with ``l``; ``b`` handed them back to the AI.
Release and hand back (and call back done, in test_tui_fallbacks.py) now ask in a small
modal naming the visitor; enter goes ahead, esc or any other key cancels.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import events
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from handoff_tui import TUISettings, make_app
from handoff_tui.app import AgentApp
from handoff_tui.screens import ConversationScreen
from handoff_tui.widgets.reply_box import ReplyEditor
from handoff_tui.widgets.transcript import Transcript
from tests.helpers import say, start_visitor
from tests.tui.pilot_kit import until

READING = {"Resolve", "Release", "Hand back", "Transfer", "Write"}
"""Reading-mode keys of a conversation the agent holds."""


def _app(url: str, token: str) -> AgentApp:
    return make_app(TUISettings(server_url=url, token=token))


def _asking(app: AgentApp) -> bool:
    """Whether the question (:class:`handoff_tui.widgets.confirm.ConfirmModal`) is up."""
    return type(app.screen).__name__ == "ConfirmModal"


def _footer(app: AgentApp) -> set[str]:
    footer = app.screen.query_one(Footer)
    return {k.description for k in footer.query(FooterKey) if not k.has_class("-command-palette")}


def _question(app: AgentApp) -> str:
    return " ".join(str(s.visual) for s in app.screen.query(Static)) + (
        f" {app.screen.query_one('.confirm').border_title}"
    )


async def _claimed(pilot, url: str, name: str) -> tuple[str, Any]:
    """A visitor called ``name`` asks for a person; the agent opens the conversation,
    claims it (c) and leaves the reply box (esc): reading mode on a conversation they
    hold. Returns its id and the visitor's connection."""
    app = pilot.app
    await until(pilot, lambda: app.queue.me is not None, what="sign-in")
    visitor, welcome = await start_visitor(url, name=name)
    cid = welcome.conversation_id
    await say(visitor, "I want to talk to a person please")
    await until(pilot, lambda: cid in app.queue.items, what="queue row")
    app.open_conversation(cid)
    conv = app.conversations[cid]
    await until(pilot, lambda: conv.packet is not None and app.screen.ready, what="packet")
    await pilot.press("c")
    await until(pilot, lambda: conv.status == "assigned", what="claim")
    await pilot.press("escape")
    await until(pilot, lambda: READING <= _footer(app), what="reading mode, mine")
    return cid, visitor


async def _still_held(pilot, cid: str) -> None:
    """Nothing was sent: a note written now comes back, and the conversation, which the
    server would have released before it, is still the agent's."""
    app = pilot.app
    conv = app.conversations[cid]
    assert isinstance(app.screen, ConversationScreen)
    assert app.send_text(cid, "note", "checking their plan")
    await until(pilot, lambda: any(e.kind == "note" for e in conv.transcript), what="the note back")
    assert conv.status == "assigned" and conv.assigned_agent.name == "Sam"
    kinds = [e.kind for e in conv.transcript]
    assert "released" not in kinds and "handed_back" not in kinds, kinds


async def test_release_asks_first_and_esc_or_typing_on_keeps_the_conversation(
    server, agent_token
) -> None:
    app = _app(server.url, agent_token)
    async with app.run_test(size=(120, 36)) as pilot:
        cid, visitor = await _claimed(pilot, server.url, "Ada Lovelace")
        await pilot.press("l")
        await until(pilot, lambda: _asking(app), what="the question")
        text = _question(app)
        assert "Release · Ada Lovelace" in text, text
        assert "Ada Lovelace goes back to the queue" in text, text
        assert "enter release" in text and "esc or any other key: cancel" in text, text
        assert {"Go ahead", "Cancel"} <= _footer(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), what="back")
        await _still_held(pilot, cid)

        # Typing on: "le…": l asks, e cancels (and is not typed anywhere).
        assert isinstance(app.screen.focused, Transcript)
        await pilot.press("l", "e")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), what="cancelled")
        await _still_held(pilot, cid)

        await pilot.press("l")
        await until(pilot, lambda: _asking(app), what="the question")
        await pilot.press("enter")
        conv = app.conversations[cid]
        await until(pilot, lambda: conv.status == "queued", what="released")
        assert conv.assigned_agent is None
        await visitor.close()


async def test_hand_back_asks_first(server, agent_token) -> None:
    app = _app(server.url, agent_token)
    async with app.run_test(size=(120, 36)) as pilot:
        cid, visitor = await _claimed(pilot, server.url, "Grace Hopper")
        await pilot.press("b")
        await until(pilot, lambda: _asking(app), what="the question")
        text = _question(app)
        assert "Hand back to the AI · Grace Hopper" in text, text
        assert "The AI answers Grace Hopper again" in text, text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), what="back")
        await _still_held(pilot, cid)

        await pilot.press("b")
        await until(pilot, lambda: _asking(app), what="the question")
        await pilot.press("enter")
        conv = app.conversations[cid]
        await until(pilot, lambda: conv.status == "ai", what="handed back")
        await visitor.close()


async def test_the_palette_asks_first_too(server, agent_token) -> None:
    """The command palette runs the same action: "Release" from it asks too."""
    app = _app(server.url, agent_token)
    async with app.run_test(size=(120, 36)) as pilot:
        cid, visitor = await _claimed(pilot, server.url, "Radia Perlman")
        await pilot.press("ctrl+p")
        await pilot.press(*"Release")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: _asking(app), what="the question")
        assert "Release · Radia Perlman" in _question(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), what="back")
        await _still_held(pilot, cid)
        await visitor.close()


WRITING = {"Send", "Send as note", "KB draft", "Back"}
"""Writing-mode keys of a conversation the agent holds."""


async def _next_key_sees(pilot, key: str, mode_widget: type) -> set[str]:
    """Press ``key`` and, as soon as the focus is on a ``mode_widget``, press ``i``;
    returns the footer's keys at the moment the app takes that ``i``."""
    app = pilot.app
    seen: list[set[str]] = []
    on_event = app.on_event

    async def recording(event: events.Event) -> None:
        if isinstance(event, events.Key) and event.key == "i" and not seen:
            seen.append(_footer(app))
        await on_event(event)

    app.on_event = recording  # type: ignore[method-assign]
    app.post_message(events.Key(key, key))
    for _ in range(10_000):
        if isinstance(app.screen.focused, mode_widget):
            break
        await asyncio.sleep(0)
    assert isinstance(app.screen.focused, mode_widget), app.screen.focused
    app.post_message(events.Key("i", "i"))
    await until(pilot, lambda: bool(seen), what="the i")
    return seen[0]


async def test_after_claiming_the_footer_shows_the_writing_keys(server, agent_token) -> None:
    """Claim (c) moves the focus into the reply box; the footer shows the writing keys
    before the next key is taken, never "i Write" while that key types into the box."""
    app = _app(server.url, agent_token)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, what="sign-in")
        visitor, welcome = await start_visitor(server.url, name="Mary Jackson")
        cid = welcome.conversation_id
        await say(visitor, "I want to talk to a person please")
        await until(pilot, lambda: cid in app.queue.items, what="queue row")
        app.open_conversation(cid)
        conv = app.conversations[cid]
        await until(pilot, lambda: conv.packet is not None and app.screen.ready, what="packet")
        await until(pilot, lambda: "Claim" in _footer(app), what="reading mode")

        shown = await _next_key_sees(pilot, "c", ReplyEditor)
        await until(pilot, lambda: conv.status == "assigned", what="claim")
        assert "Write" not in shown and {"Send as note", "KB draft", "Back"} <= shown, shown
        await until(pilot, lambda: WRITING <= _footer(app), what="Send once mine")
        assert "Write" not in _footer(app)
        await visitor.close()
