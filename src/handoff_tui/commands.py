"""The command palette's own entries: every action a screen offers in its current state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from textual.actions import parse as parse_action
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

__all__ = ["palette", "screen_commands"]


def screen_commands(app: App[Any], screen: Screen[Any]) -> Iterator[SystemCommand]:
    """One command per binding of ``screen`` (and of the widgets named in its
    ``COMMAND_SOURCES``) whose action the current state allows (``check_action`` on the
    app or the screen), each action once: the footer shows only the main keys of the
    current mode, the palette lists them all."""
    sources = [screen.BINDINGS, *(w.BINDINGS for w in getattr(screen, "COMMAND_SOURCES", ()))]
    seen: set[str] = set()
    for binding in (b for bindings in sources for b in bindings):
        if not isinstance(binding, Binding) or binding.action in seen:
            continue
        namespace, name, params = parse_action(binding.action)
        target = app if namespace == "app" else screen
        if target.check_action(name, params) is not True:
            continue
        seen.add(binding.action)
        key = binding.key_display or app.get_key_display(binding)
        # Run on this screen, not on whatever screen is on top when the palette calls it.
        action = binding.action.removeprefix("screen.")
        yield SystemCommand(
            binding.description, f"key: {key}", partial(app.run_action, action, screen)
        )


def palette(
    system: Iterable[SystemCommand], ours: Iterable[SystemCommand]
) -> Iterator[SystemCommand]:
    """Textual's ``system`` commands, then ``ours``, each title (compared without case)
    once: where one of Textual's has the title of one of ours (its "Quit" and the app's
    ^q), ours is listed, since it shows the key; among ours, the first of a title."""
    kept: dict[str, SystemCommand] = {}
    for command in ours:
        kept.setdefault(command.title.casefold(), command)
    yield from (c for c in system if c.title.casefold() not in kept)
    yield from kept.values()
