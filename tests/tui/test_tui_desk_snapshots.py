"""Snapshot tests of the desk in the agent TUI: presence and capacity, an offer, the
transfer and resolve dialogs. Fixed clock (2026-03-02 14:30:00 UTC), the fixture desk
(``roster()``: Sam online in billing holding 2 of 3, Kim online in billing and support,
Lee away in security, Olga an operator offline) on the in-memory server, at 80×24 and
160×48. Each SVG was reviewed as a picture; the docstring says what it must show."""

from __future__ import annotations

from datetime import timedelta

from tests.tui_fixtures import (
    NOW,
    build_app,
    keyword_packet,
    low_confidence_packet,
    queue_items,
    roster,
)


async def _until(pilot, predicate) -> None:
    for _ in range(100):  # allow a loaded machine 5 s
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def _signed_in(pilot) -> None:
    app = pilot.app
    await _until(pilot, lambda: app.queue.me is not None and app.model.staff.known)
    await pilot.pause(0.25)


def _offered(server):
    async def run_before(pilot) -> None:
        await _signed_in(pilot)
        grace = server.queue["c_grace"]
        server.offer(grace, NOW + timedelta(seconds=25), timeout=25)
        await _until(pilot, lambda: pilot.app.model.staff.offers)
        await pilot.pause(0.25)

    return run_before


def test_presence_and_offer_80x24(snap_compare) -> None:
    """The queue at 80×24 with the desk known: the bar under the title ends with "●
    online · 2/3 · billing: 2 online" (Sam and Kim serve billing; Lee is away) in green;
    an offer bar below it reads "⚑ Offered to you: Grace Hopper — keyword 'cancel my
    account' · team billing · 25 s left y accept · n decline" (wrapped, whole); the
    rows of Sam's team (billing: Grace, Dennis) come first; the footer adds "p Away"."""
    app, server = build_app(queue=queue_items(), staff=roster())
    assert snap_compare(app, terminal_size=(80, 24), run_before=_offered(server))


def test_presence_and_offer_160x48(snap_compare) -> None:
    """The same at 160×48: the offer bar on one line, the presence at the right end of
    the bar under the title, billing rows (Grace p2, then Dennis, Sam's) first, then the
    others by priority (Linus p3 first)."""
    app, server = build_app(queue=queue_items(), staff=roster())
    assert snap_compare(app, terminal_size=(160, 48), run_before=_offered(server))


def test_away_80x24(snap_compare) -> None:
    """After pressing p at 80×24: the presence reads "◌ away · 2/3 · billing: 1 online" in
    amber (Kim alone is online for billing now), a toast says nothing is offered until
    Sam is back, and the footer offers "p Online"."""
    app, _ = build_app(queue=queue_items(), staff=roster())

    async def run_before(pilot) -> None:
        await _signed_in(pilot)
        await pilot.press("p")
        await _until(pilot, lambda: pilot.app.model.staff.me("ag_sam").status == "away")
        await pilot.pause(0.25)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _dialog(keys: list[str], text: str = ""):
    async def run_before(pilot) -> None:
        app = pilot.app
        await _signed_in(pilot)
        app.open_conversation("c_grace")
        conv = app.conversations["c_grace"]
        await _until(pilot, lambda: getattr(app.screen, "ready", False) and conv.packet)
        await pilot.pause(0.25)
        app.screen.query_one("#transcript").focus()
        await pilot.press(*keys)
        await pilot.pause(0.2)
        if text:
            await pilot.press(*text)
        await pilot.pause(0.25)

    return run_before


def test_transfer_dialog_80x24(snap_compare) -> None:
    """Transfer on Grace's conversation at 80×24 (t, then Kim chosen, then a note typed): a
    dialog over the conversation titled "Transfer · Grace Hopper" lists "team billing · 2
    online", "team security · 0 online", "team support · 1 online", then "Kim Okafor ·
    online · 1/3 · billing, support" (highlighted), "Lee Chen · away · 0/2 · security"
    and "Olga Petrova · offline · 0/3 · every team" (both dimmed: they cannot take it);
    the note box holds "VIP: refund approved" and the keys line says enter transfers; the
    footer is the dialog's: "⏎ Transfer esc Cancel"."""
    app, _ = build_app(
        queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()], staff=roster()
    )
    run = _dialog(["t", "down", "down", "down", "enter"], "VIP: refund approved")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run)


def test_transfer_dialog_160x48(snap_compare) -> None:
    """The transfer dialog at 160×48, just opened: the same list with "team billing · 2
    online" highlighted, an empty note box with its placeholder "Note for colleagues (the
    visitor never sees it)"; behind it Grace's conversation; the footer is the dialog's,
    "↑↓ Choose ⏎ Note esc Cancel" (it was the conversation's keys, which do nothing
    while the dialog is open)."""
    app, _ = build_app(
        queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()], staff=roster()
    )
    assert snap_compare(app, terminal_size=(160, 48), run_before=_dialog(["t"]))


def test_resolve_dialog_80x24(snap_compare) -> None:
    """Resolve on Grace's conversation at 80×24 (r, referred chosen, then down twice): a
    dialog "Resolve · Grace Hopper" asks "How did it end?" with the six codes and what each
    means (answered, referred — highlighted, no_response, duplicate, spam, other), then
    "Was the AI's answer right?" with "no verdict", "right (a person was still needed)",
    "wrong" (highlighted, the list focused), "not attempted (the AI did not answer)"; the
    footer is the dialog's: "↑↓ Choose ⏎ Resolve esc Cancel"."""
    app, _ = build_app(
        queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()], staff=roster()
    )
    run = _dialog(["r", "down", "enter", "down", "down"])
    assert snap_compare(app, terminal_size=(80, 24), run_before=run)


def test_resolve_dialog_160x48(snap_compare) -> None:
    """The resolve dialog at 160×48, just opened: "answered" and "no verdict" highlighted,
    the codes list focused, the keys line "↑↓ choose · enter: next, then resolve · esc
    cancel"; behind it Grace's conversation; the footer is the dialog's, "↑↓ Choose ⏎
    Next esc Cancel" (it was the conversation's "c Claim r Resolve …")."""
    app, _ = build_app(
        queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()], staff=roster()
    )
    assert snap_compare(app, terminal_size=(160, 48), run_before=_dialog(["r"]))
