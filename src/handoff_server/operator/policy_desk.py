"""The operator's policy frames: read, check, apply, list and roll back versions, and
push every new version to the operators who watch the policy.

Versions are stored by whoever makes them: an operator over the wire (here), ``handoff
policy import`` in another process (writing the store directly), or the server's first
start. So the desk does not rely on its own writes to notice a new version: while anyone
watches, it compares the stored version number every ``poll_seconds`` (one indexed
``MAX``) and pushes a ``policy`` frame when it moved.

A new version applies to each conversation's next AI turn: the conversation service reads
the policy in force on every turn (:class:`~handoff_server.policies.PolicyBook`); the
desk answers an apply only once the new version is compiled there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from handoff_server.errors import Conflict, NotFound
from handoff_server.guard.paging import fitting
from handoff_server.hub import Subscriber
from handoff_server.operator.policy_text import checked_policy, policy_changes
from handoff_server.policies import CONFIG_AUTHOR, PolicyBook
from handoff_server.protocol import AgentInfo
from handoff_server.protocol_operator import (
    OPolicyApply,
    OPolicyGet,
    OPolicyHistory,
    OPolicyRollback,
    OPolicyValidate,
    PolicyVersionInfo,
    SPolicy,
    SPolicyHistory,
    SPolicyValidation,
)
from handoff_server.store import AsyncStore, PolicyMeta, PolicyRecord

__all__ = ["PolicyDesk"]

log = logging.getLogger(__name__)


class PolicyDesk:
    """Serves ``policy_get``, ``policy_validate``, ``policy_apply``, ``policy_history``
    and ``policy_rollback`` (see :mod:`handoff_server.protocol_operator`).

    ``store``: the server's store; ``book``: the conversation service's policy in force;
    ``poll_seconds``: how often the stored version is checked while someone watches;
    ``page_bytes``: the largest ``policy_history`` page, in JSON bytes
    (``server.page_bytes``, well under the 1 MiB frames the product's clients accept).
    """

    def __init__(
        self,
        store: AsyncStore,
        book: PolicyBook,
        poll_seconds: float = 1.0,
        page_bytes: int = 256 * 1024,
    ) -> None:
        self._store = store
        self._book = book
        self.poll_seconds = poll_seconds
        self.page_bytes = page_bytes
        self._watchers: weakref.WeakSet[Subscriber] = weakref.WeakSet()
        self._pushed = 0
        """The newest version pushed to (or read by) the watchers."""
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching the stored version (a background task)."""
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def drop(self, sub: Subscriber) -> None:
        """Forget a disconnected client."""
        self._watchers.discard(sub)

    async def get(self, frame: OPolicyGet, agent: AgentInfo, sub: Subscriber) -> SPolicy:
        """The policy in force; with ``subscribe``, ``sub`` also gets every new version."""
        async with self._lock:
            answer = await self._in_force(frame.request_id)
            if frame.subscribe:
                self._watchers.add(sub)
                self._pushed = max(self._pushed, answer.version)
        return answer

    async def validate(
        self, frame: OPolicyValidate, agent: AgentInfo, sub: Subscriber
    ) -> SPolicyValidation:
        """The policy's problems, each with its location (none: ``ok``)."""
        _, problems = checked_policy(frame.policy)
        return SPolicyValidation(request_id=frame.request_id, ok=not problems, problems=problems)

    async def apply(
        self, frame: OPolicyApply, agent: AgentInfo, sub: Subscriber
    ) -> SPolicy | SPolicyValidation:
        """Store the edited policy as a new version (see :meth:`_store_version`)."""
        meta = PolicyMeta(
            comment=frame.comment, author_id=agent.id, client_msg_id=frame.client_msg_id
        )
        return await self._store_version(frame.policy, frame, agent, sub, meta)

    async def rollback(
        self, frame: OPolicyRollback, agent: AgentInfo, sub: Subscriber
    ) -> SPolicy | SPolicyValidation:
        """Store version ``frame.version``'s body again as a new version. Raises
        :class:`NotFound` for a version that was never stored."""
        s = self._store.store
        records = await self._store.call(s.policy_history)
        old = next((r for r in records if r.version == frame.version), None)
        if old is None:
            raise NotFound(f"no policy version {frame.version}")
        meta = PolicyMeta(
            comment=f"rolled back to v{old.version}",
            rolled_back_to=old.version,
            author_id=agent.id,
            client_msg_id=frame.client_msg_id,
        )
        return await self._store_version(old.body, frame, agent, sub, meta)

    async def history(
        self, frame: OPolicyHistory, agent: AgentInfo, sub: Subscriber
    ) -> SPolicyHistory:
        """A page of versions older than ``frame.before`` (all: ``None``), newest first,
        each with its changes: at most ``frame.limit``, and no more than fit in
        ``page_bytes`` (at least one); ``more`` when older versions are left."""
        records = await self._store.call(self._store.store.policy_history)
        older = [
            i for i, r in enumerate(records) if frame.before is None or r.version < frame.before
        ]
        versions = [_version_info(records, i) for i in reversed(older[-frame.limit :])]
        kept = fitting(versions, self.page_bytes)
        return SPolicyHistory(
            request_id=frame.request_id, versions=versions[:kept], more=kept < len(older)
        )

    async def _store_version(
        self,
        body: dict[str, Any],
        frame: OPolicyApply | OPolicyRollback,
        agent: AgentInfo,
        sub: Subscriber,
        meta: PolicyMeta,
    ) -> SPolicy | SPolicyValidation:
        """Validate ``body`` and store it as the version after ``frame.base_version``,
        then push it to the other watchers. A retried frame (same client message id)
        gets the version it stored, also while the first is still being stored: the
        look-up and the write happen under one lock, and a conflicting version stored
        elsewhere (another process) under the same id counts as that retry. Raises
        :class:`Conflict` when another version was stored since ``base_version``; an
        invalid body is answered with its problems."""
        s = self._store.store
        policy, problems = checked_policy(body)
        if policy is None:
            return SPolicyValidation(request_id=frame.request_id, ok=False, problems=problems)
        async with self._lock:
            again = await self._store.call(s.policy_for_client_msg, agent.id, frame.client_msg_id)
            if again is not None:
                return _frame(again, frame.request_id)
            record = await self._store.call(
                s.apply_policy, policy.to_data(), agent.name, frame.base_version, meta
            )
            if record is None:
                return await self._retry_or_conflict(agent, frame)
            # Compiled before answering: the next turn of every conversation uses it.
            await self._book.current(fresh=True)
            self._pushed = max(self._pushed, record.version)
            self._push(_frame(record, None), but=sub)
        return _frame(record, frame.request_id)

    async def _retry_or_conflict(
        self, agent: AgentInfo, frame: OPolicyApply | OPolicyRollback
    ) -> SPolicy:
        """After a refused write: the version this client message id stored (by another
        node or process, racing), else :class:`Conflict` naming the version in force."""
        s = self._store.store
        again = await self._store.call(s.policy_for_client_msg, agent.id, frame.client_msg_id)
        if again is not None:
            return _frame(again, frame.request_id)
        latest = await self._store.call(s.latest_policy_version)
        raise Conflict(
            f"the policy changed since version {frame.base_version}: version {latest}"
            " is in force; start from it"
        )

    async def _in_force(self, request_id: str | None) -> SPolicy:
        record = await self._store.call(self._store.store.latest_policy)
        if record is not None:
            return _frame(record, request_id)
        default = await self._book.current()
        return SPolicy(
            request_id=request_id, version=0, author=CONFIG_AUTHOR, policy=default.to_data()
        )

    def _push(self, frame: SPolicy, but: Subscriber | None = None) -> None:
        for sub in list(self._watchers):
            if sub is not but:
                sub.push(frame)

    async def _watch(self) -> None:
        """Push versions stored by someone else (another process) to the watchers."""
        s = self._store.store
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not self._watchers:
                continue
            try:
                async with self._lock:
                    version = await self._store.call(s.latest_policy_version)
                    if version == self._pushed:
                        continue
                    record = await self._store.call(s.latest_policy)
                    if record is None:
                        continue
                    self._pushed = record.version
                    self._push(_frame(record, None))
            except Exception:  # the store may be closing; try again on the next tick
                log.exception("checking the stored policy version failed")


def _version_info(records: list[PolicyRecord], i: int) -> PolicyVersionInfo:
    """``records[i]`` (oldest first) with its changes from the version before it."""
    r = records[i]
    before = records[i - 1].body if i > 0 else None
    return PolicyVersionInfo(
        version=r.version,
        author=r.author,
        created_at=r.created_at,
        comment=r.comment,
        rolled_back_to=r.rolled_back_to,
        changes=policy_changes(before, r.body),
    )


def _frame(record: PolicyRecord, request_id: str | None) -> SPolicy:
    return SPolicy(
        request_id=request_id,
        version=record.version,
        author=record.author,
        created_at=record.created_at,
        comment=record.comment,
        policy=record.body,
    )
