"""The operator's side of the server: the frames of
:mod:`handoff_server.protocol_operator`, answered over ``/v1/agent``.

:func:`build_operator_desk` assembles the :class:`OperatorDesk` the gateway hands
operator frames to: the policy (:mod:`.policy_desk`), the what-if replay, analytics,
risk–coverage and knowledge gaps (:mod:`.insights`), and new KB entries
(:mod:`.kb_desk`).
"""

from __future__ import annotations

from handoff_server.config import Settings
from handoff_server.conversations import ConversationService
from handoff_server.operator.desk import OPERATOR_FRAMES, OperatorDesk, is_operator_frame
from handoff_server.operator.insights import Insights
from handoff_server.operator.kb_desk import KbDesk
from handoff_server.operator.policy_desk import PolicyDesk
from handoff_server.store import AsyncStore, open_store

__all__ = ["OPERATOR_FRAMES", "OperatorDesk", "build_operator_desk", "is_operator_frame"]

POLICY_POLL_SECONDS = 1.0
"""How often the stored policy version is checked while operators watch the policy."""


def build_operator_desk(
    service: ConversationService,
    store: AsyncStore,
    settings: Settings,
    *,
    poll_seconds: float = POLICY_POLL_SECONDS,
) -> OperatorDesk:
    """The desk serving every operator frame for ``service`` (whose ``store`` it writes
    policies to; history is read on a second connection to the store ``settings`` name).
    ``poll_seconds``: how often a policy stored by another process is looked for while
    operators watch the policy. Call ``start()`` on the running event loop and
    ``close()`` when done. Raises :class:`~handoff_server.errors.DataDirError` when the
    store cannot be opened again."""
    policy = PolicyDesk(store, service.policies, poll_seconds, settings.server.page_bytes)
    configured = [*settings.assignment.push_teams, *settings.assignment.pull_teams]
    insights = Insights(service, AsyncStore(open_store(settings.store)), configured)
    kb = KbDesk(service, settings)
    desk = OperatorDesk(
        {
            "policy_get": policy.get,
            "policy_validate": policy.validate,
            "policy_apply": policy.apply,
            "policy_history": policy.history,
            "policy_rollback": policy.rollback,
            "what_if": insights.what_if,
            "analytics": insights.analytics,
            "risk_coverage": insights.risk_coverage,
            "knowledge_gaps": insights.knowledge_gaps,
            "kb_entry_create": kb.create,
        }
    )
    desk.on_start.append(policy.start)
    desk.on_drop.append(policy.drop)
    desk.on_close += [policy.close, insights.close]
    return desk
