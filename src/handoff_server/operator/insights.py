"""The operator's reading frames: ``what_if``, ``analytics``, ``risk_coverage`` and
``knowledge_gaps``.

They read long stretches of history, so they run on a store connection of their own
(``reader``, its own thread: SQLite's WAL lets it read while the server writes), never on
the event loop and never in the way of the conversations' store thread. The numbers are
:mod:`handoff_server.analytics`'s; this module only fetches and answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handoff_server.ai.courtesy_layer import without_courtesy
from handoff_server.analytics.coverage import (
    JUDGED_EVENTS,
    eval_samples,
    judged_samples,
    risk_coverage,
    trade_words,
)
from handoff_server.analytics.gaps import failed_questions, knowledge_gaps
from handoff_server.analytics.report import analytics_report
from handoff_server.analytics.teams import check_team, known_teams
from handoff_server.analytics.whatif import replay_period
from handoff_server.conversations import ConversationService
from handoff_server.hub import Subscriber
from handoff_server.operator.policy_text import checked_policy
from handoff_server.protocol import AgentInfo
from handoff_server.protocol_operator import (
    OAnalytics,
    OKnowledgeGaps,
    ORiskCoverage,
    OWhatIf,
    SAnalytics,
    SKnowledgeGaps,
    SPolicyValidation,
    SRiskCoverage,
    SWhatIf,
)
from handoff_server.store import AsyncStore

__all__ = ["Insights"]


class Insights:
    """Answers the reading frames for ``service`` from ``reader`` (an
    :class:`~handoff_server.store.AsyncStore` on its own connection to the same store).
    ``teams``: the teams the configuration names (``[assignment]``'s push and pull
    teams), known to ``analytics`` besides those the store and the policy name."""

    def __init__(
        self, service: ConversationService, reader: AsyncStore, teams: Sequence[str] = ()
    ) -> None:
        self._service = service
        self._reader = reader
        self._teams = list(teams)

    async def close(self) -> None:
        """Close the reader's connection."""
        await self._reader.close()

    async def what_if(
        self, frame: OWhatIf, agent: AgentInfo, sub: Subscriber
    ) -> SWhatIf | SPolicyValidation:
        """The edited policy replayed over the period against the policy in force; an
        invalid policy is answered with its problems."""
        proposed, problems = checked_policy(frame.policy)
        if proposed is None:
            return SPolicyValidation(request_id=frame.request_id, ok=False, problems=problems)
        current = await self._service.policies.current()
        s = self._reader.store
        answer = await self._reader.call(
            replay_period, s, current, proposed, frame.since, frame.until, frame.examples
        )
        return answer.model_copy(update={"request_id": frame.request_id})

    async def analytics(self, frame: OAnalytics, agent: AgentInfo, sub: Subscriber) -> SAnalytics:
        """Containment, escalations, wait and handling for the period (days in the
        policy's business-hours time zone). Raises ``NotFound`` for a ``team`` nobody
        names (an empty report would read as a team without escalations)."""
        policy = await self._service.policies.current()
        zone = policy.business_hours.timezone
        if frame.team is not None:
            known = await self._reader.call(known_teams, self._reader.store, policy, self._teams)
            check_team(frame.team, known)
        report = await self._reader.call(
            analytics_report,
            self._reader.store,
            frame.since,
            frame.until,
            team=frame.team,
            timezone=zone,
        )
        return report.model_copy(update={"request_id": frame.request_id})

    async def risk_coverage(
        self, frame: ORiskCoverage, agent: AgentInfo, sub: Subscriber
    ) -> SRiskCoverage:
        """The curve from agents' verdicts and the latest saved eval results."""
        s = self._reader.store
        events = await self._reader.call(s.events_of_kinds, JUDGED_EVENTS, None, None)
        judged = judged_samples(events)
        evaluated = eval_samples(await self._reader.call(s.latest_eval_run))
        samples = [*judged, *evaluated]
        threshold = (await self._service.policies.current()).threshold
        return SRiskCoverage(
            request_id=frame.request_id,
            threshold=threshold,
            points=risk_coverage(samples),
            resolved_samples=len(judged),
            eval_samples=len(evaluated),
            trade=trade_words(samples, threshold),
        )

    async def knowledge_gaps(
        self, frame: OKnowledgeGaps, agent: AgentInfo, sub: Subscriber
    ) -> SKnowledgeGaps:
        """The period's failed questions, grouped by topic with the answerer's vectors."""
        s = self._reader.store
        rows = await self._reader.call(s.turns_between, frame.since, frame.until)
        resolved = await self._reader.call(s.events_of_kinds, ("resolved",), None, None)
        engine = without_courtesy(self._service.answerer)
        kb: Any = getattr(engine, "kb", None)
        titles = {e.id: e.title for e in kb.entries} if kb is not None else {}
        groups = await self._reader.call(
            knowledge_gaps, failed_questions(rows, resolved), engine, titles, frame.limit
        )
        return SKnowledgeGaps(request_id=frame.request_id, groups=groups)
