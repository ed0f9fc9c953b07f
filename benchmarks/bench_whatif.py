"""Benchmark: the what-if replay over 10,000 and 100,000 stored AI turns.

Builds a store the way a server fills it: real visitor conversations (demo KB questions
reworded, CLINC150 questions the KB does not cover, thanks, repeats, complaints, risk
phrases, a visitor accepting a person) answered by the default engine and decided by the
default policy turn by turn with their history, stopping at the handoff, each turn stored
with its signals (``ai_turns``). A pool of 2,000 such conversations is copied under new ids
until the store holds the number of turns asked for.

Then it times, in the same run (median of ``--repeat`` runs; wall-clock and CPU seconds,
the steadier figure on a shared machine):

- ``load``: reading the period's turns from SQLite, nothing else (the baseline);
- ``threshold``: the what-if of an edit that moves the threshold and a rule (the stored
  readings serve both policies);
- ``keyword``: the what-if of an edit that adds a keyword phrase (the keyword part of every
  distinct stored text is read again).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_whatif.py [--turns 10000 --turns 100000]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from handoff_server.ai import make_answerer
from handoff_server.ai.base import Answerer
from handoff_server.analytics.whatif import replay_period
from handoff_server.conversations.turn import TurnResult
from handoff_server.conversations.turn_rows import turn_row
from handoff_server.escalation import Policy, PriorTurn, TurnContext, decide_turn, parse_policy
from handoff_server.kb import load_kb
from handoff_server.store import AiTurnRow, ConversationRecord, SQLiteStore

CLINC = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinc150" / "val.csv"
START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
POOL = 2000
FOLLOW_UPS = [
    "thanks!",
    "that didn't help",
    "this is useless, I am so annoyed",
    "I want to cancel my account",
    "can I talk to a person please",
    "ok",
    "how long does that take",
]


def _openers(rng: random.Random) -> list[str]:
    kb_questions = [q for e in load_kb(None).entries for q in e.questions]
    with CLINC.open(encoding="utf-8") as fh:
        off_topic = [r["text"] for r in csv.DictReader(fh)]
    reworded = [
        f"{rng.choice(['hi, ', '', 'hello, '])}{q}{rng.choice(['', '?', ' please'])}"
        for q in kb_questions
    ]
    return reworded + rng.sample(off_topic, 800) + ["are you a bot?"] * 20


def _conversation(
    answerer: Answerer, policy: Policy, rng: random.Random, openers: list[str], n: int
) -> list[AiTurnRow]:
    """One conversation decided turn by turn, as the server does, until a handoff."""
    now = START + timedelta(minutes=n)
    conv = ConversationRecord(
        id=uuid.uuid4().hex, status="ai", resume_token_hash="x", created_at=now, updated_at=now
    )
    texts = [rng.choice(openers)]
    texts += [
        rng.choice([*FOLLOW_UPS, texts[0], *rng.sample(openers, 3)])
        for _ in range(rng.randint(0, 3))
    ]
    rows: list[AiTurnRow] = []
    history: list[PriorTurn] = []
    offered = False
    for seq, text in enumerate(texts, start=2):
        if offered:
            text = "yes"
        answer = answerer.answer(text)
        ctx = TurnContext(
            text=text,
            answer=answer,
            history=history,
            explicit_human_request=offered,
            now=now + timedelta(seconds=seq),
        )
        decision, signals = decide_turn(policy, ctx)
        result = TurnResult(answer, None, decision, policy.threshold, decision.question, signals)
        row = turn_row(conv.model_copy(update={"last_seq": seq}), text, result, pressed=False)
        assert row is not None
        rows.append(row)
        if decision.escalate:
            break
        offered = decision.action == "offer_handoff"
        history.append(PriorTurn(text=text, confidence=answer.confidence))
    return rows


def _fill(store: SQLiteStore, pool: list[list[AiTurnRow]], turns: int) -> int:
    """Copy ``pool``'s conversations under new ids until ``turns`` turns are stored."""
    stored, copy = 0, 0
    while stored < turns:
        for rows in pool:
            cid = uuid.uuid4().hex
            at = rows[0].at + timedelta(days=copy)
            store.create_conversation(
                ConversationRecord(
                    id=cid, status="ai", resume_token_hash="x", created_at=at, updated_at=at
                ),
                [],
            )
            store.append_events(cid, [], {}, (), [_moved(r, cid, copy) for r in rows])
            stored += len(rows)
            if stored >= turns:
                break
        copy += 1
    return stored


def _moved(row: AiTurnRow, cid: str, days: int) -> AiTurnRow:
    return replace(row, conversation_id=cid, at=row.at + timedelta(days=days))


def _timed(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall-clock and CPU seconds of ``repeat`` calls of ``fn``."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


HEADER = (
    f"{'turns':>8} {'conversations':>13} | {'load':^11} | {'threshold edit':>14} {'x load':>6}"
    f" | {'keyword edit':>12} {'x load':>6}"
)


def _measure(
    size: int,
    pool: list[list[AiTurnRow]],
    body: dict[str, object],
    current: Policy,
    edits: list[Policy],
    repeat: int,
) -> str:
    """One line of the table: a store of ``size`` turns; reading them and each edit's
    what-if, in seconds, wall-clock/CPU; ratios of CPU seconds to reading's."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp), synchronous="NORMAL")
        try:
            store.save_policy(body, "bench")
            stored = _fill(store, pool, size)
            n_conv = len({r.conversation_id for r in store.turns_of_conversations(None, None)})
            wall, cpu = _timed(lambda: store.turns_of_conversations(None, None), repeat)
            cells = [f"{stored:>8,} {n_conv:>13,}", f"{f'{wall:.2f}/{cpu:.2f}':^11}"]
            for width, edit in zip((14, 12), edits, strict=True):
                w, c = _timed(partial(replay_period, store, current, edit, None, None, 5), repeat)
                cells.append(f"{f'{w:.2f}/{c:.2f}':>{width}} {c / cpu:>5.1f}x")
            return " | ".join(cells)
        finally:
            store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--turns", type=int, action="append", help="stored turns (default 10k, 100k)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = args.turns or [10_000, 100_000]
    rng = random.Random(0)
    answerer = make_answerer(
        load_kb(None), "default", cache_dir=Path(tempfile.gettempdir()) / "bench-whatif"
    )
    body = Policy().to_data()
    current = parse_policy(body, version=1)
    openers = _openers(rng)
    t = time.perf_counter()
    pool = [_conversation(answerer, current, rng, openers, i) for i in range(POOL)]
    print(
        f"pool: {POOL} conversations, {sum(map(len, pool))} turns, decided in {time.perf_counter() - t:.1f} s"
    )
    edits = {
        "threshold": parse_policy(
            {**body, "threshold": 0.55, "rules": body["rules"][:-2] + body["rules"][-1:]}
        ),
        "keyword": parse_policy(
            {
                **body,
                "keyword": {**body["keyword"], "phrases": [*body["keyword"]["phrases"], "refund"]},
            }
        ),
    }
    print(f"{platform.python_version()} on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("seconds, wall-clock/CPU (median of --repeat runs); x load: CPU / load's CPU")
    print(HEADER)
    for size in sizes:
        print(_measure(size, pool, body, current, list(edits.values()), args.repeat))


if __name__ == "__main__":
    main()
