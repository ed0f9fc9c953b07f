"""Benchmark: what does reading the whole message cost ``decide()``?

Since issue 12 the triggers read every sentence of a message (up to 4,000 characters,
the default ``max_message_chars``), not its first and last 500 characters. This times
``decide()`` on one visitor turn, in the same run, for a 40-character message (the
baseline) and for 1,500- and 4,000-character messages made of distinct, ordinary
sentences, a fresh message for every call (the worst case: no sentence was read before,
so no per-sentence cache helps), under the default policy and under a policy with four
operator intents. Matchers and classifiers are built before timing
(``compile_policy``), as the server does when it loads a policy.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_triggers.py [--turns 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime

from handoff_server.ai.base import Answer
from handoff_server.escalation import Policy, TurnContext, compile_policy, decide

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
BASELINE = "how do I point my domain to your servers?"  # 40 characters

SUBJECTS = ["the shop", "our blog", "the staging site", "my mailbox", "the backup job", "the API"]
VERBS = ["runs on", "was moved to", "talks to", "depends on", "was set up with", "still uses"]
OBJECTS = [
    "PHP 8.2 and a MySQL database",
    "the nameservers you gave us",
    "a cron job that starts at midnight",
    "the CDN settings from last year",
    "a plugin our agency wrote",
    "the SMTP relay on port 587",
]
TAILS = ["since March", "as far as I know", "according to the panel", "for now", "again", ""]

OPERATOR_INTENTS = [
    {"name": "sales_lead", "team": "sales", "escalate": False,
     "examples": ["we want to move 200 sites to you", "do you have an enterprise plan"]},
    {"name": "migration", "team": "migrations",
     "examples": ["please migrate my site for me", "can you move my wordpress from my old host"]},
    {"name": "outage", "team": "senior", "priority": 3,
     "examples": ["all my sites are down", "the whole server is offline"]},
    {"name": "refund", "team": "billing",
     "examples": ["I want a refund", "give me my money back for this month"]},
]  # fmt: skip


def message(chars: int, rng: random.Random) -> str:
    """Distinct ordinary sentences up to ``chars`` characters."""
    parts: list[str] = []
    while True:
        sentence = (
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.choice(TAILS)} ({rng.randrange(10_000)})."
        ).replace(" (", " (ref ")
        if sum(len(p) + 1 for p in parts) + len(sentence) > chars:
            return " ".join(parts)
        parts.append(sentence)


def time_decide(policy: Policy, texts: list[str], turns: int) -> list[tuple[float, float]]:
    """(wall, CPU) milliseconds per ``decide()`` call, cycling through ``texts``. CPU time
    is the steadier figure on a shared machine; wall time is what a visitor waits."""
    answer = Answer(text="an answer", confidence=0.82, entry_id="dns-basics")
    ctxs = [TurnContext(text=t, answer=answer, now=NOW) for t in texts]
    decide(policy, TurnContext(text=BASELINE, answer=answer, now=NOW))  # warm shared state
    out = []
    for i in range(turns):
        wall, cpu = time.perf_counter(), time.process_time()
        decide(policy, ctxs[i % len(ctxs)])
        out.append(((time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3))
    return out


def main() -> None:
    """Print one row per policy and message length: median and p95 wall time and median
    CPU time in ms, and the median wall time against the 40-character baseline of the
    same policy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300, help="decide() calls per row")
    args = parser.parse_args()
    rng = random.Random(12)
    policies = {"default": Policy(), "4 intents": Policy(intent={"categories": OPERATOR_INTENTS})}
    load = os.getloadavg()[0]
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, load {load:.1f}")
    print(f"{'policy':<10} {'message':>12} {'median':>8} {'p95':>8} {'CPU':>8} {'x baseline':>11}")
    for name, policy in policies.items():
        compile_policy(policy)
        base = None
        for chars in (40, 1500, 4000):
            texts = [BASELINE] if chars == 40 else [message(chars, rng) for _ in range(args.turns)]
            runs = time_decide(policy, texts, args.turns)
            walls = sorted(w for w, _ in runs)
            median = statistics.median(walls)
            base = base or median
            cpu = statistics.median(c for _, c in runs)
            label = f"{len(texts[0]):,} chars"
            print(
                f"{name:<10} {label:>12} {median:>8.2f} {walls[int(len(walls) * 0.95)]:>8.2f} "
                f"{cpu:>8.2f} {median / base:>10.1f}x"
            )
    print("(milliseconds per decide() call)")


if __name__ == "__main__":
    main()
