"""The escalation policy in force: the newest version stored, else the config file's.

Policies are versioned in the store (:meth:`~handoff_server.store.Store.save_policy`);
an import applies to each conversation's next AI turn, without a restart. Two users:

- the server: :class:`PolicyBook` stores the config's policy as version 1 when nothing is
  stored, and gives the policy in force per turn, re-reading and compiling it (its
  classifiers are trained, ~0.1-0.3 s) only when the stored version changed (the
  version is read on each call, unless ``recheck_seconds`` says how long to trust it);
- the CLI (``handoff policy``, ``handoff triage``): :func:`policy_in_force`,
  :func:`save_policy`, :func:`import_policy` and :func:`policy_history` open the store through
  :func:`~handoff_server.store.open_store`; the commands never open it themselves.

Never here: deciding a turn (that is :mod:`handoff_server.escalation`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from handoff_server import escalation
from handoff_server.config import Settings, StoreSettings
from handoff_server.errors import PolicyError, StoredPolicyInvalid
from handoff_server.escalation import Policy, parse_policy
from handoff_server.store import AsyncStore, PolicyRecord, opened_store, store_exists

__all__ = [
    "PolicyBook",
    "PolicyImport",
    "PolicyInForce",
    "import_policy",
    "policy_history",
    "policy_in_force",
    "save_policy",
]

log = logging.getLogger(__name__)

CONFIG_AUTHOR = "config"
"""Author of the version the server stores from the config file when none is stored."""


@dataclass(frozen=True)
class PolicyInForce:
    """The policy in force and where it comes from: ``record`` is the stored version, or
    ``None`` when nothing is stored and the config file's policy applies."""

    policy: Policy
    record: PolicyRecord | None


def _parse_record(record: PolicyRecord) -> Policy:
    try:
        return parse_policy(record.body, version=record.version)
    except PolicyError as exc:
        raise StoredPolicyInvalid(record.version, exc.problems) from None


def policy_in_force(settings: Settings, *, create_store: bool = True) -> PolicyInForce:
    """The newest stored version, else ``settings.policy``. With ``create_store=False`` a
    data dir that holds no store reads as "nothing stored" and none is created there.

    Raises :class:`StoredPolicyInvalid` when the stored version does not validate."""
    if not create_store and not store_exists(settings.store):
        return PolicyInForce(settings.policy, None)
    with opened_store(settings.store) as store:
        record = store.latest_policy()
    if record is None:
        return PolicyInForce(settings.policy, None)
    return PolicyInForce(_parse_record(record), record)


def save_policy(settings: StoreSettings, policy: Policy, author: str) -> int:
    """Store ``policy`` (already validated) as the next version; returns its number."""
    with opened_store(settings) as store:
        return store.save_policy(policy.to_data(), author)


@dataclass(frozen=True)
class PolicyImport:
    """What :func:`import_policy` did: ``changed`` False means the policy was the one in
    force and nothing was stored; ``version`` is the stored version in force afterwards
    (``None``: nothing stored, the config file's policy applies)."""

    changed: bool
    version: int | None


def import_policy(settings: Settings, policy: Policy, author: str) -> PolicyImport:
    """Store ``policy`` (already validated) as the next version, unless it is the policy
    in force (the newest stored version, else the config file's): compared as data
    (:meth:`~handoff_server.escalation.Policy.to_data`, defaults filled in), so a file
    identical in meaning adds no version. A stored version that no longer validates
    counts as different. Raises the store's error when it cannot write."""
    with opened_store(settings.store) as store:
        record = store.latest_policy()
        try:
            current = settings.policy if record is None else _parse_record(record)
        except StoredPolicyInvalid:
            current = None
        if current is not None and current.to_data() == policy.to_data():
            return PolicyImport(changed=False, version=record.version if record else None)
        return PolicyImport(changed=True, version=store.save_policy(policy.to_data(), author))


def policy_history(settings: StoreSettings) -> list[PolicyRecord]:
    """Every stored version, oldest first."""
    with opened_store(settings) as store:
        return store.policy_history()


class PolicyBook:
    """The server's view of the policy: ``store`` is the server's
    :class:`~handoff_server.store.AsyncStore`; ``default`` the config file's policy;
    ``recheck_seconds``: how long a stored version is trusted before the store is asked
    again (0: every time)."""

    def __init__(self, store: AsyncStore, default: Policy, recheck_seconds: float = 0.0) -> None:
        self._store = store
        self._default = default
        self._policy = default
        self._version = 0
        self.recheck_seconds = recheck_seconds
        self._checked = -float("inf")

    async def seed(self) -> None:
        """Store the config's policy as version 1 if no version is stored, then load the
        policy in force."""
        s = self._store.store
        if await self._store.call(s.latest_policy_version) == 0:
            await self._store.call(s.save_policy, self._default.to_data(), CONFIG_AUTHOR)
        await self.current()

    async def current(self, *, fresh: bool = False) -> Policy:
        """The policy in force, compiled; ``fresh``: ask the store now, however recently
        it was asked. A stored version that does not validate is logged and skipped:
        the previous one stays in force."""
        now = time.monotonic()
        if not fresh and now - self._checked < self.recheck_seconds:
            return self._policy
        self._checked = now
        s = self._store.store
        version = await self._store.call(s.latest_policy_version)
        if version == self._version:
            return self._policy
        record = await self._store.call(s.latest_policy)
        if record is None:
            return self._policy
        try:
            policy = _parse_record(record)
            # Training the policy's classifiers takes ~0.1-0.3 s: off the event loop.
            await asyncio.to_thread(escalation.compile_policy, policy)
        except PolicyError:
            log.error("stored policy v%s is invalid; keeping v%s", record.version, self._version)
            return self._policy
        self._policy = policy
        self._version = record.version
        return self._policy
