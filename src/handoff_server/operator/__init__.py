"""The operator's side of the server: the frames of
:mod:`handoff_server.protocol_operator`, answered over ``/v1/agent``.

:func:`build_operator_desk` assembles the :class:`OperatorDesk` the gateway hands
operator frames to: the policy (:mod:`.policy_desk`), the what-if replay, analytics,
risk–coverage and knowledge gaps (:mod:`.insights`), and new KB entries
(:mod:`.kb_desk`).
"""

from __future__ import annotations

from handoff_server.conversations import ConversationService
from handoff_server.operator.desk import OPERATOR_FRAMES, OperatorDesk, is_operator_frame
from handoff_server.operator.policy_desk import PolicyDesk
from handoff_server.store import AsyncStore

__all__ = ["OPERATOR_FRAMES", "OperatorDesk", "build_operator_desk", "is_operator_frame"]


def build_operator_desk(
    service: ConversationService, store: AsyncStore, *, poll_seconds: float = 1.0
) -> OperatorDesk:
    """The desk serving every operator frame for ``service`` (whose ``store`` it reads
    and writes). ``poll_seconds``: how often a policy stored by another process is looked
    for while operators watch the policy. Call ``start()`` on the running event loop."""
    policy = PolicyDesk(store, service.policies, poll_seconds)
    desk = OperatorDesk(
        {
            "policy_get": policy.get,
            "policy_validate": policy.validate,
            "policy_apply": policy.apply,
            "policy_history": policy.history,
            "policy_rollback": policy.rollback,
        }
    )
    desk.on_start.append(policy.start)
    desk.on_drop.append(policy.drop)
    desk.on_close.append(policy.close)
    return desk
