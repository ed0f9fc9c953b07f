"""Agents and operators: who may sign in with which token.

Only a token's SHA-256 hash is stored (:func:`~handoff_server.store.hash_token`); tokens
are created by ``handoff token create``, may expire and can be revoked
(:mod:`handoff_server.tokens`: the directory's ``guard`` closes the connections of a
token that stops working). Later: an operator's screens manage agents here.
Never here: what an agent may do to a conversation (that is
:mod:`handoff_server.conversations.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Callable

from handoff_server.protocol import AgentInfo
from handoff_server.store import AgentRecord, AsyncStore, hash_token
from handoff_server.tokens import TokenGuard, refusal

__all__ = ["AgentDirectory"]


class AgentDirectory:
    """Signs agents in against the store (an :class:`~handoff_server.store.AsyncStore`).
    ``on_sign_in`` gets the record of everyone signing in, as stored now (routing
    refreshes their teams and capacity from it). ``guard`` watches the connections of
    those signed in (a :class:`~handoff_server.tokens.TokenGuard` on ``store``, re-reading
    every second, unless given)."""

    def __init__(
        self,
        store: AsyncStore,
        on_sign_in: Callable[[AgentRecord], object] | None = None,
        guard: TokenGuard | None = None,
    ) -> None:
        self._store = store
        self._on_sign_in = on_sign_in
        self.guard = guard if guard is not None else TokenGuard(store)

    async def authenticate(self, token: str) -> AgentInfo | None:
        """The agent or operator whose token this is, or ``None`` for an unknown,
        revoked or expired token."""
        rec = await self._store.call(self._store.store.agent_by_token_hash, hash_token(token))
        if rec is None or refusal(rec, self.guard.now()) is not None:
            return None
        self.guard.know(rec)
        if self._on_sign_in is not None:
            self._on_sign_in(rec)
        return AgentInfo(id=rec.id, name=rec.name, role=rec.role)
