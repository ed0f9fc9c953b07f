"""The sentence that tells the visitor about the handoff."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Router", "handoff_notice"]


def handoff_notice(agents_online: int) -> str:
    """What the visitor is told when the conversation goes to a person: that nobody is
    online (their messages are kept), else that a person will reply here. Their place in
    the line and the wait come next, in the ``wait_estimate`` frame (per team, so the
    handoff sentence does not count the whole queue and contradict it)."""
    if agents_online == 0:
        return (
            "I'm handing this conversation to a person. Nobody from the team is online right "
            "now: your messages are saved here and a person will reply in this chat as soon as "
            "someone is available."
        )
    return "I'm handing this conversation to a person, who will reply here."


class Router:
    """Handoff facts: ``agents_online`` counts the agents connected now."""

    def __init__(self, agents_online: Callable[[], int]) -> None:
        self._agents_online = agents_online

    def notice(self) -> str:
        """The handoff sentence for a conversation about to be queued."""
        return handoff_notice(self._agents_online())
