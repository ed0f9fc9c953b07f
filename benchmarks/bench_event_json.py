"""Benchmark encoding a turn's events as JSON (not a test; prints a table).

Every turn stores two events (the visitor's message and the AI's answer, whose data
carries the decision's evaluations, ~1.6 KB) and the conversation memory keeps each as
JSON text. Per event, the microseconds (``time.process_time`` over ``--repeat`` passes
of all the events, the median over ``--rounds`` interleaved rounds) of the standard
library's :func:`json.dumps`, the baseline, against
:func:`handoff_server.store.dump_json` (pydantic-core's encoder), and the data read back
equal for every event. The events are those the server stores for the demo set's
questions (``tests/data/demo_questions.csv`` on the demo KB, the default engine and
policy): the same code (:func:`~handoff_server.conversations.turn.evaluate_turn`, then
:mod:`~handoff_server.conversations.changes`) builds them.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_event_json.py [--rounds 7] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handoff_server.ai import make_answerer
from handoff_server.analytics import read_questions
from handoff_server.config import Settings
from handoff_server.conversations import changes
from handoff_server.conversations.turn import TurnInput, evaluate_turn
from handoff_server.kb import demo_kb_path, load_kb
from handoff_server.store import dump_json, utcnow

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "demo_questions.csv"


async def turn_events(limit: int) -> dict[str, list[dict[str, Any]]]:
    """The data of the events the server stores for the first ``limit`` demo questions
    the AI answers, by kind: the visitor's message and the AI's answer."""
    settings = Settings()
    answerer = make_answerer(load_kb(settings.ai.kb or demo_kb_path()), settings.ai.engine)
    out: dict[str, list[dict[str, Any]]] = {"visitor_message": [], "ai_message": []}
    for text in read_questions(QUESTIONS)[0]:
        result = await evaluate_turn(answerer, settings.policy, TurnInput(text=text), timeout=None)
        if result.decision.escalate:
            continue  # a handoff's events carry the packet: not the common turn
        out["visitor_message"].append({"text": text})
        out["ai_message"].extend(ev.data for ev in changes.ai_reply(result, utcnow()).events)
        if len(out["visitor_message"]) == limit:
            break
    return out


def per_event_us(encode: Callable[[Any], str], events: list[dict[str, Any]], repeat: int) -> float:
    """Microseconds of CPU per event for ``encode``."""
    t0 = time.process_time()
    for _ in range(repeat):
        for data in events:
            encode(data)
    return (time.process_time() - t0) / (repeat * len(events)) * 1e6


def main(args: argparse.Namespace) -> None:
    kinds = asyncio.run(turn_events(args.questions))
    coders: dict[str, Callable[[Any], str]] = {"json.dumps": json.dumps, "dump_json": dump_json}
    print(
        f"# {args.questions} demo questions the AI answers; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'event':>16} {'chars':>6} {'encoder':>11} {'µs/event':>9} {'ratio':>7}")
    for kind, events in kinds.items():
        assert all(json.loads(dump_json(d)) == d for d in events), "dump_json changed the data"
        chars = statistics.mean(len(json.dumps(d)) for d in events)
        runs: dict[str, list[float]] = {name: [] for name in coders}
        for _ in range(args.rounds):
            for name, encode in coders.items():
                runs[name].append(per_event_us(encode, events, args.repeat))
        base = statistics.median(runs["json.dumps"])
        for name, values in runs.items():
            med = statistics.median(values)
            print(f"{kind:>16} {chars:6.0f} {name:>11} {med:9.1f} {med / base:6.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=60, help="answered demo questions")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the events a round")
    main(parser.parse_args())
