"""Run ``handoff triage --json`` over the labeled trigger cases; count false and missed
escalations.

The table (``tests/escalation/test_escalation_table.py``) fixes each case's AI answer; triage runs
the real answerer on the bundled demo KB instead, so this counts what a visitor would get.
Only cases under the default policy without history, visitor fields or a failed answerer
are run. A case's expected reason is its trigger when that is one of the text triggers
(human_request, keyword, intent, sentiment, kb_entry):

- missed: the case expects escalation by such a trigger and triage did not escalate by it
  (escalating for low confidence instead is still a missed reason, with no team);
- false: the case expects no such escalation and triage escalated by one of them.

Usage (from the repository root; the same table measures any checkout)::

    PYTHONPATH=src .venv/bin/python benchmarks/triage_table.py [--all] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_escalation_table import CASES, ISSUE12_CASES, Case  # noqa: E402

from handoff_cli.main import app  # noqa: E402

TEXT_TRIGGERS = {"human_request", "keyword", "intent", "sentiment", "kb_entry"}


def runnable(case: Case) -> bool:
    """Cases whose outcome depends on the message alone under the default policy."""
    return (
        case.policy == "default"
        and not case.history
        and not case.visitor
        and case.ai_error is None
        and not case.explicit
        and case.page_url is None
    )


def outcome(case: Case, out: dict) -> str:
    """``ok``, ``missed`` or ``false`` for one triage result."""
    expected = case.trigger if case.action == "escalate" and case.trigger in TEXT_TRIGGERS else None
    got = out["trigger"] if out["escalate"] and out["trigger"] in TEXT_TRIGGERS else None
    if expected is not None:
        return "ok" if got == expected else "missed"
    return "false" if got is not None else "ok"


def main() -> None:
    """Print one line per wrong case and the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every table case, not only issue 12's")
    parser.add_argument("--data-dir", type=Path, default=None, help="where triage caches the index")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="triage-table-"))
    cases = [c for c in (CASES if args.all else ISSUE12_CASES) if runnable(c)]
    runner = CliRunner()
    counts: Counter[str] = Counter()
    for case in cases:
        result = runner.invoke(app, ["triage", "--json", "--data-dir", str(data_dir), case.text])
        if result.exit_code != 0:
            raise SystemExit(f"{case.id}: triage failed: {result.output}")
        out = json.loads(result.stdout)
        verdict = outcome(case, out)
        counts[verdict] += 1
        if verdict != "ok":
            print(f"{verdict:6} {case.id:32} expected {case.trigger}, got {out['trigger']}: "
                  f"{out['detail'][:90]}")  # fmt: skip
    print(f"{len(cases)} cases: {counts['false']} false escalations, {counts['missed']} missed")


if __name__ == "__main__":
    main()
