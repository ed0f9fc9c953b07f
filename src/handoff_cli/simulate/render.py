"""The report as text: one report, or several side by side (``--compare``).

Every line goes through :func:`~handoff_cli.output.echo`, so text from the server
(answers, trigger names, teams) is shown as data, control characters escaped.
"""

from __future__ import annotations

from typing import Any

from handoff_cli.output import echo, one_line, styled

__all__ = ["show_comparison", "show_report"]


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{one_line(k)} {v}" for k, v in counts.items()) or "-"


def _row(label: str, text: str) -> None:
    echo(styled(f"{label:<16}", bold=True), text)


def _summary(report: dict[str, Any]) -> None:
    c = report["conversations"]
    _row(
        "conversations",
        f"{c['started']} started, {c['finished']} finished, {c['unfinished']} unfinished,"
        f" {c['abandoned']} gave up waiting for an agent, {c.get('queued', '-')} still queued"
        f" ({report['seconds']:.1f} s)",
    )
    _row("containment", f"{_num(report['containment'])} ({c['contained']} never handed off)")
    esc = report["escalations"]
    _row("escalations", f"{esc['total']}: {_counts(esc['by_trigger'])}")
    _row("  by team", _counts(esc["by_team"]))
    agents = report["agents"]
    if agents is not None and agents["count"]:
        _row(
            "agents",
            f"{agents['count']}: {agents['claims']} claims ({agents['claims_lost']} lost), "
            f"{agents['replies']} replies, {agents['resolved']} resolved, "
            f"{agents['handed_back']} handed back",
        )
    errors = report["errors"]
    _row("errors", f"{errors['total']}  {_counts(errors['by_code'])}" if errors["total"] else "0")
    q = report["questions"]
    if q is not None:
        _row(
            "questions",
            f"{q['n']} ({q['n_oos']} out of scope): containment {_num(q['containment'])}, "
            f"escalated {q['escalated']}, oos recall {_num(q['oos_recall'])}, "
            f"coverage {_num(q['coverage'])}, wrong answers {_num(q['wrong_answer_rate'])}",
        )


def _latency(report: dict[str, Any]) -> None:
    echo(styled(f"{'latency (s)':<16}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}", bold=True))
    for key, label in (
        ("ai_reply", "AI reply"),
        ("handoff", "handoff"),
        ("agent_pickup", "agent pickup"),
    ):
        q = report["latency_seconds"][key]
        cells = "".join(f"{_num(q[k]):>9}" for k in ("p50", "p95", "p99", "max"))
        echo(f"  {label:<14}{q['n']:>6}{cells}")


def _metrics(report: dict[str, Any]) -> None:
    after = report["server_metrics"]["after"]
    if "error" in after:
        _row("server metrics", one_line(after["error"]))
        return
    change = report["server_metrics"]["change"]
    _row("server metrics", f"{len(change)} counters changed during the run")
    for key, value in sorted(change.items()):
        echo(f"  {one_line(key)} +{value:g}")


def _clip(text: str, limit: int = 110) -> str:
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _transcript_line(line: dict[str, Any]) -> None:
    details = [
        f"{k}={_clip(str(v), 40)}"
        for k, v in line.items()
        if k not in ("at", "who", "kind", "text")
    ]
    extra = f" ({', '.join(details)})" if details else ""
    text = f": {_clip(line['text'])}" if "text" in line else ""
    echo(f"    +{line['at']:6.2f}s {line['who']} {line['kind']}{extra}", text)


def _failed_conversation(failures: list[dict[str, Any]]) -> None:
    """One conversation's failed expectations, then its transcript once."""
    first = failures[0]
    echo(
        styled("FAILED ", fg="red", bold=True),
        f"{one_line(first['visitor'])}, conversation {first['conversation_id'] or '(none)'}",
    )
    for f in failures:
        where = f"turn {f['turn']}" if f["turn"] is not None else "conversation"
        verdict = "" if f["verdict"] == "unmet" else f" [{f['verdict'].replace('_', ' ')}]"
        echo(f"  {where} {f['expectation']}{verdict}: ", one_line(f["detail"]))
    echo("  transcript:")
    for line in first["transcript"]:
        _transcript_line(line)


def _by_conversation(failures: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for f in failures:
        groups.setdefault((f["visitor"], f["conversation_id"]), []).append(f)
    return list(groups.values())


def _show_failures(failures: list[dict[str, Any]], show: int) -> None:
    groups = _by_conversation(failures)
    for group in groups[:show]:
        _failed_conversation(group)
    if len(groups) > show:
        echo(
            f"… {len(groups) - show} more conversations with failures"
            " (--show-failures N, or --json for all)"
        )


def show_report(report: dict[str, Any], show_failures: int) -> None:
    """Print ``report``: the summary, latencies, the server's counters, and the first
    ``show_failures`` failed expectations with their transcripts."""
    echo(styled("handoff simulate", bold=True), f" against {one_line(report['server'])}")
    _summary(report)
    _latency(report)
    _metrics(report)
    exp = report["expectations"]
    verdicts = _counts(exp["by_verdict"])
    _row(
        "expectations",
        f"{exp['checked']} checked, {exp['failed']} failed"
        + (f" ({verdicts})" if exp["failed"] else ""),
    )
    _show_failures(exp["failures"], show_failures)


def _compare_rows(reports: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = [
        ("conversations", [str(r["conversations"]["started"]) for r in reports]),
        ("containment", [_num(r["containment"]) for r in reports]),
        ("escalations", [str(r["escalations"]["total"]) for r in reports]),
    ]
    triggers = sorted({t for r in reports for t in r["escalations"]["by_trigger"]})
    for t in triggers:
        rows.append(
            (f"  {one_line(t)}", [str(r["escalations"]["by_trigger"].get(t, 0)) for r in reports])
        )
    for key, label in (
        ("ai_reply", "AI reply p50"),
        ("handoff", "handoff p50"),
        ("agent_pickup", "pickup p50"),
    ):
        rows.append((label, [_num(r["latency_seconds"][key]["p50"]) for r in reports]))
    rows.append(("errors", [str(r["errors"]["total"]) for r in reports]))
    rows.append(("expectations failed", [str(r["expectations"]["failed"]) for r in reports]))
    return rows


def show_comparison(labels: list[str], reports: list[dict[str, Any]], show_failures: int) -> None:
    """Print several reports side by side (one column each, headed by ``labels``), then
    the failed expectations of each."""
    width = max(14, *(len(one_line(label)) + 2 for label in labels))
    echo(
        styled(f"{'':<22}" + "".join(f"{one_line(label):>{width}}" for label in labels), bold=True)
    )
    for name, cells in _compare_rows(reports):
        echo(f"{name:<22}" + "".join(f"{c:>{width}}" for c in cells))
    for label, report in zip(labels, reports, strict=True):
        failures = report["expectations"]["failures"]
        if failures:
            echo(styled(f"\n{one_line(label)}: {len(failures)} failed expectations", bold=True))
            _show_failures(failures, show_failures)
