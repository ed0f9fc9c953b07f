"""``handoff simulate``'s options, checked and turned into a :class:`~.engine.Plan`.

Every mistake exits 2 with ``error[code]``: ``invalid_option`` for options that do not
go together, ``bad_scenario`` / ``bad_questions`` for a file that is refused (every
problem listed), ``no_token`` when agents (or a team expectation) need a token and none
was given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handoff_cli.common import fail, server_url_or_fail
from handoff_cli.simulate.record import Script
from handoff_cli.simulate.scenario import AgentSpec, Scenario, ThinkTime, load_scenario
from handoff_cli.simulate.workload import question_scripts, scenario_scripts
from handoff_server.config import Settings
from handoff_server.errors import QuestionsError, ScenarioError

if TYPE_CHECKING:
    from handoff_cli.simulate.engine import Plan

__all__ = ["Options", "check_options"]

QUESTIONS_CONCURRENCY = 8
"""Visitors at once for a question set when neither --rate nor --concurrency is given."""

_TOKEN_HELP = (
    "create one with 'handoff token create --name NAME --role agent' and pass it with "
    "--agent-token or HANDOFF_TOKEN"
)


@dataclass
class Options:
    """The command line as given (see ``handoff simulate --help``)."""

    server: str | None
    scenario: Path | None
    questions: Path | None
    rate: float | None
    concurrency: int | None
    duration: float | None
    count: int | None
    think_time: float | None
    agents: int | None
    agent_token: list[str] | None
    agent_capacity: int | None
    claim_delay: float | None
    agent_reply: str | None
    agent_reply_kb: bool
    handback_share: float | None
    assignment: str | None
    timeout: float
    patience: float
    seed: int
    policy: list[Path] | None
    compare: bool
    kb: Path | None
    engine: str | None
    data_dir: Path | None
    as_json: bool
    show_failures: int
    config: Path | None

    def serve_args(self) -> list[str]:
        """The options passed on to the ``handoff serve`` that ``--policy`` starts."""
        args: list[str] = []
        for flag, value in (
            ("--kb", self.kb),
            ("--engine", self.engine),
            ("--config", self.config),
        ):
            if value is not None:
                args += [flag, str(value)]
        return args


def _exclusive(o: Options) -> None:
    if (o.scenario is None) == (o.questions is None):
        fail("give --scenario FILE or --questions FILE (one of them)", "invalid_option")
    if o.rate is not None and o.concurrency is not None:
        fail("--rate (open loop) and --concurrency (closed loop): choose one", "invalid_option")
    if o.duration is not None and o.count is not None:
        fail("--duration and --count: choose one", "invalid_option")
    if o.compare and not o.policy:
        fail(
            "--compare needs --policy FILE (the policy to compare with the default)",
            "invalid_option",
        )
    from_env = os.environ.get("HANDOFF_SERVER_URL")
    if from_env is not None:  # --server's value arrives normalized (ServerOpt)
        from_env = server_url_or_fail(from_env, "HANDOFF_SERVER_URL")
    if o.policy and o.server is not None and o.server != from_env:
        fail("--policy starts its own server: leave out --server", "invalid_option")
    if not o.policy and (o.kb or o.engine or o.data_dir):
        fail("--kb, --engine and --data-dir are for the servers --policy starts", "invalid_option")


def _agents(o: Options, base: AgentSpec) -> AgentSpec:
    """The scenario's agents with the command line's settings over them."""
    given = {
        "count": o.agents,
        "capacity": o.agent_capacity,
        "claim_delay": o.claim_delay,
        "reply": o.agent_reply,
        "reply_from_kb": o.agent_reply_kb or None,
        "handback_share": o.handback_share,
        "assignment": o.assignment,
    }
    try:
        return AgentSpec.model_validate(
            base.model_dump() | {k: v for k, v in given.items() if v is not None}
        )
    except ValueError as exc:
        fail(f"agent options: {exc}", "invalid_option")


def _workload(o: Options) -> tuple[list[Script], Scenario | None]:
    try:
        if o.scenario is not None:
            scenario = load_scenario(o.scenario)
            return scenario_scripts(scenario), scenario
        assert o.questions is not None
        return question_scripts(o.questions), None
    except ScenarioError as exc:
        fail(str(exc), exc.code)
    except QuestionsError as exc:
        fail(exc.detail, exc.code)


def _tokens(
    o: Options, settings: Settings, agents: AgentSpec, scenario: Scenario | None
) -> list[str]:
    """Agent tokens: none needed when ``--policy`` makes its own; else exit ``no_token``
    when agents or a team expectation need one."""
    if o.policy:
        return []
    tokens = [t for t in (o.agent_token or []) if t.strip()] or (
        [settings.client.token] if settings.client.token else []
    )
    if tokens:
        return tokens
    if agents.count:
        fail(f"--agents {agents.count} needs an agent token: {_TOKEN_HELP}", "no_token")
    places = scenario.needs_agent_side() if scenario is not None else []
    if places:
        fail(f"a team is only visible to agents ({', '.join(places)}): {_TOKEN_HELP}", "no_token")
    return []


def check_options(o: Options, settings: Settings) -> tuple[Plan, dict[str, Any]]:
    """The plan the options describe and the report's ``workload`` section; exits 2 on
    any mistake (see the module docstring)."""
    from handoff_cli.simulate.engine import Plan  # the load generator: the server's client

    _exclusive(o)
    scripts, scenario = _workload(o)
    agents = _agents(o, scenario.agents if scenario is not None else AgentSpec())
    think: ThinkTime = (
        o.think_time if o.think_time is not None else (scenario.think_time if scenario else 0.0)
    )
    concurrency = o.concurrency
    if concurrency is None and o.rate is None and scenario is None:
        concurrency = QUESTIONS_CONCURRENCY
    plan = Plan(
        server_url=o.server or settings.client.server_url,
        scripts=scripts,
        rate=o.rate,
        concurrency=concurrency,
        count=o.count,
        duration=o.duration,
        agents=agents,
        tokens=_tokens(o, settings, agents, scenario),
        timeout=o.timeout,
        patience=o.patience,
        think_time=think,
        seed=o.seed,
        shuffle=scenario is not None,
    )
    workload = {
        "source": "scenario" if scenario is not None else "questions",
        "file": str(o.scenario or o.questions),
        "name": scenario.name if scenario is not None else None,
        "arrivals": "open loop (Poisson)" if o.rate is not None else "closed loop",
        "rate_per_second": o.rate,
        "concurrency": None if o.rate is not None else (concurrency or len(scripts)),
        "count": o.count,
        "duration_seconds": o.duration,
        "agents": agents.count,
        "seed": o.seed,
    }
    return plan, workload
