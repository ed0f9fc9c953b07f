"""The visitor's place in the queue and the sentence that tells them about the handoff."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from handoff_server.store import AsyncStore, ConversationRecord

__all__ = ["Router", "handoff_notice", "queue_position"]


def queue_position(queued: Iterable[ConversationRecord], priority: int) -> int:
    """How many of the ``queued`` conversations are ahead of a new one with
    ``priority``: those with the same or a higher priority."""
    return sum(1 for c in queued if c.priority >= priority)


def handoff_notice(agents_online: int, ahead: int) -> str:
    """What the visitor is told when the conversation goes to a person: that nobody is
    online (their messages are kept), else how many conversations are ahead of theirs."""
    if agents_online == 0:
        return (
            "I'm handing this conversation to a person. Nobody from the team is online right "
            "now: your messages are saved here and a person will reply in this chat as soon as "
            "someone is available."
        )
    return (
        f"I'm handing this conversation to a person. {ahead} conversation"
        f"{'' if ahead == 1 else 's'} ahead of you in the queue."
    )


class Router:
    """Queue facts for a handoff: ``store`` holds the queue, ``agents_online`` counts
    the agents connected now."""

    def __init__(self, store: AsyncStore, agents_online: Callable[[], int]) -> None:
        self._store = store
        self._agents_online = agents_online

    async def notice(self, priority: int) -> str:
        """The handoff sentence for a conversation about to be queued with ``priority``."""
        online = self._agents_online()
        if online == 0:
            return handoff_notice(0, 0)
        queued = await self._store.call(self._store.store.list_conversations, ["queued"])
        return handoff_notice(online, queue_position(queued, priority))
