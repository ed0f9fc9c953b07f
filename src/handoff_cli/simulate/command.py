"""``handoff simulate``: many visitors (and agents) against a real server, from a scenario
file or a question set, with a report that can gate a policy change."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from websockets.exceptions import InvalidStatus, InvalidURI

from handoff_cli.common import ConfigOpt, JsonOpt, ServerOpt, fail, print_json, settings_from
from handoff_cli.policy_commands import read_policy_file
from handoff_cli.simulate.options import Options, check_options
from handoff_cli.simulate.render import show_comparison, show_report
from handoff_cli.simulate.servers import start_server, stop_server
from handoff_cli.times import finite_seconds
from handoff_server.client import connect_visitor
from handoff_server.errors import HandoffError, PolicyError
from handoff_server.escalation import Policy, parse_policy

if TYPE_CHECKING:
    from handoff_cli.simulate.engine import Plan, RunResult

# The load generator (engine, progress, report: the server's client and gateway, NumPy)
# is imported by the functions that run it, so `handoff` starts without it.

__all__ = ["register", "simulate"]


def _opt(help_: str, metavar: str | None = None, **kw: Any) -> Any:
    return typer.Option(help=help_, metavar=metavar, **kw)


ScenarioOpt = Annotated[
    Path | None,
    _opt("Scenario file (TOML; see docs/simulate.md).", "FILE", exists=True, dir_okay=False),
]
QuestionsOpt = Annotated[
    Path | None,
    _opt(
        "Question set: CSV text,label ('oos' = should hand off, else the KB entry that should answer).",
        "FILE",
        exists=True,
        dir_okay=False,
    ),
]
RateOpt = Annotated[
    float | None,
    _opt("Open loop: new conversations per second (Poisson arrivals).", "PER_SECOND", min=0.001),
]
ConcurrencyOpt = Annotated[
    int | None,
    _opt(
        "Closed loop: this many visitors at once, each starting again when done (default: a scenario's visitors all at once; 8 for questions).",
        "N",
        min=1,
    ),
]
DurationOpt = Annotated[
    float | None,
    _opt(
        "Keep starting conversations for this many seconds.",
        "SECONDS",
        callback=finite_seconds,
        min=0.1,
    ),
]
CountOpt = Annotated[
    int | None,
    _opt(
        "Start this many conversations (default: one pass of the scenario or question set).",
        "N",
        min=1,
    ),
]
ThinkOpt = Annotated[
    float | None,
    _opt(
        "Seconds a visitor thinks before each turn (default: the scenario's; 0 for questions).",
        "SECONDS",
        callback=finite_seconds,
        min=0,
    ),
]
AgentsOpt = Annotated[
    int | None,
    _opt(
        "Simulated agents that claim, reply and resolve (default: the scenario's [agents] count, else 0).",
        "N",
        min=0,
        max=1000,
    ),
]
AgentTokenOpt = Annotated[
    list[str] | None,
    _opt(
        "Agent token for the simulated agents and the agents' side of the report (repeatable: one per agent; default $HANDOFF_TOKEN). Create one with 'handoff token create --name NAME --role agent'.",
        "TOKEN",
        envvar="HANDOFF_TOKEN",
    ),
]
CapacityOpt = Annotated[
    int | None,
    _opt("Conversations a simulated agent holds at once (default 3).", "N", min=1, max=100),
]
ClaimDelayOpt = Annotated[
    float | None,
    _opt(
        "Seconds from a conversation queued to an agent claiming it (default 1).",
        "SECONDS",
        callback=finite_seconds,
        min=0,
    ),
]
ReplyOpt = Annotated[str | None, _opt("What simulated agents write.", "TEXT")]
ReplyKbOpt = Annotated[
    bool,
    typer.Option(
        "--agent-reply-kb", help="Agents write the AI's unsent KB answer when the handoff has one."
    ),
]
HandbackOpt = Annotated[
    float | None,
    _opt(
        "Share (0-1) of conversations agents hand back to the AI instead of resolving.",
        "FRACTION",
        min=0,
        max=1,
    ),
]
AssignmentOpt = Annotated[
    Literal["pull", "push"] | None,
    typer.Option(
        "--assignment",
        metavar="MODE",
        help="How agents get work (pull or push): claim from the queue (pull, default) or only accept the "
        'server\'s offers (push, for a server with [assignment] mode = "push").',
    ),
]
TimeoutOpt = Annotated[
    float, _opt("Seconds to wait for each reply.", "SECONDS", callback=finite_seconds, min=0.1)
]
PatienceOpt = Annotated[
    float,
    _opt(
        "Seconds a handed-off visitor waits for the agents to finish (with agents).",
        "SECONDS",
        callback=finite_seconds,
        min=0,
    ),
]
SeedOpt = Annotated[int, _opt("Random seed (arrivals, think times, order).", "N")]
PolicyOpt = Annotated[
    list[Path] | None,
    _opt(
        "Start a server with this policy (TOML or .json) and run against it: a 'handoff serve' subprocess on a free port; repeatable with --compare.",
        "FILE",
        exists=True,
        dir_okay=False,
    ),
]
CompareOpt = Annotated[
    bool,
    typer.Option(
        "--compare",
        help="Run the same workload against a server with the default policy and one with each --policy; print them side by side.",
    ),
]
KbOpt = Annotated[
    Path | None,
    _opt("KB of the servers --policy starts (default: the demo KB).", "PATH", exists=True),
]
EngineOpt = Annotated[str | None, _opt("Answerer engine of the servers --policy starts.", "NAME")]
RootOpt = Annotated[
    Path | None,
    _opt(
        "Folder for the data of the servers --policy starts (kept; their index cache is shared, so a KB is indexed once). Default: a temporary folder.",
        "DIR",
        file_okay=False,
    ),
]
ShowOpt = Annotated[
    int, _opt("Failed expectations shown with their transcripts (--json has all).", "N", min=0)
]


def simulate(
    server: ServerOpt = None,
    scenario: ScenarioOpt = None,
    questions: QuestionsOpt = None,
    rate: RateOpt = None,
    concurrency: ConcurrencyOpt = None,
    duration: DurationOpt = None,
    count: CountOpt = None,
    think_time: ThinkOpt = None,
    agents: AgentsOpt = None,
    agent_token: AgentTokenOpt = None,
    agent_capacity: CapacityOpt = None,
    claim_delay: ClaimDelayOpt = None,
    agent_reply: ReplyOpt = None,
    agent_reply_kb: ReplyKbOpt = False,
    handback_share: HandbackOpt = None,
    assignment: AssignmentOpt = None,
    timeout: TimeoutOpt = 30.0,
    patience: PatienceOpt = 60.0,
    seed: SeedOpt = 1,
    policy: PolicyOpt = None,
    compare: CompareOpt = False,
    kb: KbOpt = None,
    engine: EngineOpt = None,
    data_dir: RootOpt = None,
    as_json: JsonOpt = False,
    show_failures: ShowOpt = 10,
    config: ConfigOpt = None,
) -> None:
    """Simulate many visitors and agents against a server.

    Give a scenario (--scenario) or a question set (--questions). Conversations start at
    --rate per second (open loop) or with --concurrency visitors (closed loop), for
    --duration seconds or --count conversations. The report covers containment,
    handoffs by trigger and team, latencies (p50/p95/p99), errors, the server's /metrics
    before and after, and every failed expectation with its transcript; --json prints it
    as one object. Exits 1 when an expectation fails (with --compare: the last policy's).

    --policy starts the server itself ('handoff serve' on a free port, a fresh data dir
    with that policy and agent tokens), so no --server or token is needed then.
    """
    options = Options(**locals())
    settings = settings_from(config)
    plan, workload = check_options(options, settings)
    policies = _policies(options)
    if policies is None:
        reports = [_run_remote(plan, workload, as_json)]
        labels = [plan.server_url]
    else:
        labels = [label for label, _ in policies]
        reports = asyncio.run(_run_started(plan, workload, options, policies))
    _output(labels, reports, as_json, show_failures, compare)
    if reports[-1]["expectations"]["failed"]:
        raise typer.Exit(1)


def _policies(options: Options) -> list[tuple[str, Policy | None]] | None:
    """The servers to start: ``(label, policy)`` each (``None``: the default policy)."""
    if not options.policy:
        return None
    out: list[tuple[str, Policy | None]] = (
        [("default policy", None)] if options.compare and len(options.policy) == 1 else []
    )
    for path in options.policy:
        try:
            out.append((str(path), parse_policy(read_policy_file(path))))
        except PolicyError as exc:
            fail(f"--policy {path}: {exc}", exc.code)
    return out


async def _simulate(plan: Plan, title: str, as_json: bool) -> RunResult:
    """Run ``plan``, drawing live progress when wanted; exit 2 on a refused token."""
    from handoff_cli.simulate.engine import run_simulation
    from handoff_cli.simulate.progress import LiveProgress, Tally, progress_wanted

    tally = Tally()
    try:
        if progress_wanted(as_json):
            with LiveProgress(tally, title):
                return await run_simulation(plan, tally)
        return await run_simulation(plan, tally)
    except InvalidStatus as exc:
        fail(
            f"the server refused the agent token (HTTP {exc.response.status_code})", "unauthorized"
        )
    except OSError as exc:
        fail(f"the simulated agents cannot connect to {plan.server_url}: {exc}", "connect_failed")


async def _reachable(url: str) -> None:
    """Exit 2 (``connect_failed``) unless ``url`` accepts a visitor connection."""
    try:
        conn = await asyncio.wait_for(connect_visitor(url), 10)
    except (OSError, TimeoutError, InvalidStatus, InvalidURI) as exc:
        fail(f"cannot connect to {url}: {exc}", "connect_failed")
    await conn.close()


def _run_remote(plan: Plan, workload: dict[str, Any], as_json: bool) -> dict[str, Any]:
    from handoff_cli.simulate.report import build_report

    async def run() -> RunResult:
        await _reachable(plan.server_url)
        return await _simulate(plan, plan.server_url, as_json)

    return build_report(asyncio.run(run()), workload)


async def _run_started(
    plan: Plan,
    workload: dict[str, Any],
    options: Options,
    policies: list[tuple[str, Policy | None]],
) -> list[dict[str, Any]]:
    """Start a server per policy, one after another, and run ``plan`` against each."""
    from handoff_cli.simulate.report import build_report

    root = options.data_dir or Path(tempfile.mkdtemp(prefix="handoff-simulate-"))
    serve_args = options.serve_args()
    reports = []
    try:
        for n, (label, policy) in enumerate(policies, start=1):
            started = await start_server(root, f"run-{n}", policy, plan.agents.count, serve_args)
            try:
                tokens = started.tokens if plan.agents.count else started.tokens[:1]
                run_plan = dataclasses.replace(plan, server_url=started.url, tokens=tokens)
                result = await _simulate(run_plan, label, options.as_json)
            finally:
                await stop_server(started.process)
            reports.append(
                build_report(
                    result, {**workload, "policy": label, "data_dir": str(started.data_dir)}
                )
            )
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    finally:
        if options.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return reports


def _output(
    labels: list[str], reports: list[dict[str, Any]], as_json: bool, show: int, compare: bool
) -> None:
    if as_json:
        if len(reports) == 1:
            print_json(reports[0])
        else:
            print_json(
                {
                    "compare": [
                        {"policy": label, "report": r}
                        for label, r in zip(labels, reports, strict=True)
                    ]
                }
            )
    elif compare and len(reports) > 1:
        show_comparison(labels, reports, show)
    else:
        for report in reports:
            show_report(report, show)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``handoff`` app."""
    app.command("simulate")(simulate)
