"""``handoff triage``: run the answerer and the escalation policy on one message, no server.

Operators use it to ask "why would this escalate?": it prints the answer, its confidence,
the candidates and the decision with every trigger's evaluation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from handoff_cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    fail,
    key_values,
    print_json,
    settings_from,
)
from handoff_cli.output import clip_words, echo, one_line
from handoff_server.errors import HandoffError, PolicyError
from handoff_server.escalation import Decision, Policy, PriorTurn, parse_policy
from handoff_server.policies import policy_in_force
from handoff_server.protocol import has_visible_text

if TYPE_CHECKING:
    from handoff_server.ai.base import Answer


def _policy(policy_file: Path | None, settings: Any) -> tuple[Policy, str]:
    """The policy to try: a file, else the newest stored version, else the config's."""
    from handoff_cli.policy_commands import read_policy_file

    if policy_file is not None:
        return parse_policy(read_policy_file(policy_file)), str(policy_file)
    # Trying a message must not create a store in a data dir that has none.
    current = policy_in_force(settings, create_store=False)
    if current.record is None:
        return settings.policy, "config"
    return current.policy, f"store v{current.record.version}"


def _answerer(settings: Any) -> Any:
    """The configured KB and engine, or exit with ``bad_kb`` / ``bad_engine``."""
    from handoff_server.ai import make_answerer
    from handoff_server.config import index_cache_dir
    from handoff_server.kb import load_kb

    try:
        knowledge = load_kb(settings.ai.kb)
        cache = index_cache_dir(settings)
        if settings.ai.engine == "llm":  # the same engine the server runs: asks the model
            from handoff_server.ai.llm import make_llm_answerer

            return make_llm_answerer(knowledge, settings.ai.llm, cache)
        return make_answerer(knowledge, settings.ai.engine, cache)
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    except ImportError as exc:
        fail(str(exc), "missing_extra")


def _report(question: str, answer: Answer | None, d: Decision, source: str) -> dict[str, Any]:
    """The --json object (see :func:`triage`)."""
    return {
        "question": question,
        "answer": answer.text if answer else None,
        "confidence": answer.confidence if answer else None,
        "entry_id": answer.entry_id if answer else None,
        "sources": answer.sources if answer else [],
        "candidates": [c.model_dump() for c in answer.candidates] if answer else [],
        "analysis": answer.analysis if answer else "",
        "escalate": d.escalate,
        "action": d.action,
        "trigger": d.trigger,
        "detail": d.detail,
        "priority": d.priority,
        "team": d.team,
        "rule": d.rule,
        "intent": d.intent,
        "policy": source,
        "policy_version": d.policy_version,
        "evaluations": [e.model_dump(mode="json") for e in d.evaluations],
    }


def _show(d: Decision, answer: Answer | None, ai_error: str | None, source: str) -> None:
    """The decision for people: verdict, answer, candidates and every trigger."""
    verdict = {"escalate": "ESCALATE", "offer_handoff": "OFFER A PERSON", "continue": "AI ANSWERS"}[
        d.action
    ]
    detail = one_line(d.detail)
    echo(verdict + (f" — {d.trigger}: {detail}" if d.trigger else f" — {detail}"))
    if d.escalate:
        echo(f"  priority {d.priority}" + (f", team {one_line(d.team)}" if d.team else ""))
    if answer is not None:
        # An escalated turn's answer is never sent: the visitor is told a person comes.
        unsent = ", not sent: the conversation goes to a person" if d.escalate else ""
        echo(f"answer ({one_line(answer.entry_id)}, confidence {answer.confidence:.2f}{unsent}):")
        first = (answer.text.strip().splitlines() or [""])[0]
        # At most 200 characters, cut between words with an ellipsis (--json: all of it).
        echo("  " + one_line(clip_words(first, 200)))
        for c in answer.candidates[:5]:
            echo(f"  candidate {one_line(c.entry_id)}: {c.score:.2f}  {one_line(c.title)}")
    else:
        echo(f"answer: none ({one_line(ai_error)})")
    echo(f"triggers (policy {one_line(source)}):")
    for e in d.evaluations:
        mark = "FIRED" if e.fired else ("off  " if not e.enabled else "-    ")
        echo(f"  {mark} {e.trigger:<21} {one_line(e.detail)}")


KbOpt = Annotated[
    Path | None,
    typer.Option(
        "--kb",
        metavar="PATH",
        help="KB folder or file (default: from config, else the bundled demo KB).",
        exists=True,
    ),
]
PolicyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        help="Try this policy file (TOML/JSON) instead of the one in force.",
        exists=True,
        dir_okay=False,
    ),
]
HistoryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--history", metavar="TEXT", help="An earlier visitor message, oldest first (repeatable)."
    ),
]
VisitorOpt = Annotated[
    list[str] | None,
    typer.Option("--visitor", metavar="FIELD=VALUE", help="A visitor field (repeatable)."),
]


def triage(
    question: Annotated[str, typer.Argument(metavar="TEXT", help="The visitor's message.")],
    kb: KbOpt = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", metavar="NAME", help="Answerer engine (default from config)."),
    ] = None,
    policy_file: PolicyFileOpt = None,
    history: HistoryOpt = None,
    visitor: VisitorOpt = None,
    page_url: Annotated[
        str | None, typer.Option("--page-url", metavar="URL", help="Page the visitor started on.")
    ] = None,
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show whether the policy would escalate a message, and why.

    It answers the message as the server would, then evaluates every trigger; no
    server is needed.

    With --json: one object with answer, confidence (0-1), entry_id, sources, candidates,
    analysis, escalate (true/false), action, trigger (low_confidence, keyword,
    human_request, sentiment, intent, kb_entry, unresolved_exchanges, ai_error, rule or
    null), detail, priority, team, rule, intent, policy (where it came from),
    policy_version and evaluations (every trigger: value, threshold, fired, detail).
    """
    if not has_visible_text(question):
        fail("the message has no visible character", "empty_message")
    settings = settings_from(
        config, {"store": {"data_dir": data_dir}, "ai": {"kb": kb, "engine": engine}}
    )
    try:
        policy, source = _policy(policy_file, settings)
    except PolicyError as exc:
        fail(str(exc), exc.code, exit_code=1)
    answerer = _answerer(settings)
    # The server's turn pulls in its AI and the escalation detectors (scikit-learn): loaded
    # here, by the one command that runs it, not when the CLI starts.
    from handoff_server.conversations.turn import TurnInput, evaluate_turn

    turn = TurnInput(
        text=question,
        history=[PriorTurn(text=h) for h in history or []],
        visitor=key_values(visitor or [], "--visitor"),
        page_url=page_url,
    )
    # The server's own turn: the same function decides, so triage cannot drift from it.
    result = asyncio.run(evaluate_turn(answerer, policy, turn, timeout=None))
    answer, ai_error, d = result.answer, result.ai_error, result.decision
    report = _report(question, answer, d, source)
    if json_out:
        print_json(report)
        return
    _show(d, answer, ai_error, source)


def register(app: typer.Typer) -> None:
    """Add the ``triage`` command to ``app``."""
    app.command("triage")(triage)
