"""Benchmark answering questions in batches (not a test; prints a table).

Per-question CPU time (``time.process_time``, ms, all threads of this process) of the
KB-retrieval engine's ``answer()`` one question at a time, the baseline, against
``answer_many()`` on batches of 1, 2, 4, 8, 16 and 32 of the same questions, measured in
the same run: rounds interleave the baseline and every batch size, each row gives the
median over the rounds and its ratio to the baseline's median. The last column is
``answer_many()`` through the courtesy layer (what ``make_answerer`` returns and the
server calls). Questions: ``tests/data/demo_questions.csv`` on the demo KB unless given.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_answer_batch.py [--engine default]
        [--engine embeddings] [--rounds 5] [--kb KB] [--questions CSV] [--cache-dir DIR]
        [--one-by-one]

``--one-by-one`` times ``answer()`` alone, so the same script measures code without
``answer_many`` (``PYTHONPATH=/path/to/main/src``) for a before/after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from handoff_server.ai import make_answerer
from handoff_server.ai.base import Answer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer, without_courtesy
from handoff_server.ai.retrieval import RetrievalAnswerer
from handoff_server.analytics import read_questions
from handoff_server.kb import load_kb

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "demo_questions.csv"
SIZES = (1, 2, 4, 8, 16, 32)


def _cpu_per_question(run: Callable[[], object], n: int) -> float:
    """CPU ms per question of one call of ``run`` over ``n`` questions."""
    t = time.process_time()
    run()
    return (time.process_time() - t) / n * 1000


def _batched(answer_many: Callable[[list[str]], list[Answer]], qs: list[str], size: int) -> None:
    for i in range(0, len(qs), size):
        answer_many(qs[i : i + size])


def _engine_rows(
    layer: CourtesyAnswerer, qs: list[str], rounds: int, sizes: tuple[int, ...]
) -> list[tuple[str, ...]]:
    engine = without_courtesy(layer)
    assert isinstance(engine, RetrievalAnswerer)
    one = [engine.answer(q) for q in qs]  # warm-up, and the answers to check against
    if sizes:
        many = engine.answer_many(qs)
        assert [a.entry_id for a in many] == [a.entry_id for a in one]
        worst = max(abs(a.confidence - b.confidence) for a, b in zip(many, one, strict=True))
        print(
            f"# {engine.engine}: answer_many(all) = answer() one by one: the same entries, "
            f"max |confidence difference| {worst:.1e}"
        )
    base: list[float] = []
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        base.append(_cpu_per_question(lambda: [engine.answer(q) for q in qs], len(qs)))
        for size in sizes:
            for name, who in (("engine", engine), ("layer", layer)):
                cpu = _cpu_per_question(
                    lambda w=who, s=size: _batched(w.answer_many, qs, s), len(qs)
                )
                times.setdefault((name, size), []).append(cpu)
    b = float(np.median(base))
    rows = [(engine.engine, "one by one", f"{b:.3f}", "1.00", "", "")]
    for size in sizes:
        e, c = (float(np.median(times[(k, size)])) for k in ("engine", "layer"))
        rows.append(
            (engine.engine, f"{size}", f"{e:.3f}", f"{e / b:.2f}", f"{c:.3f}", f"{c / b:.2f}")
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engine", action="append", help="engine(s); default: default")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--kb", type=Path, default=None, help="KB path (default: the demo KB)")
    ap.add_argument("--questions", type=Path, default=QUESTIONS, help="text,label CSV")
    ap.add_argument("--cache-dir", type=Path, default=None, help="index cache (default: temp)")
    ap.add_argument(
        "--one-by-one",
        action="store_true",
        help="time answer() alone (runs on code without answer_many: a before/after)",
    )
    args = ap.parse_args()
    kb = load_kb(args.kb)
    qs, _ = read_questions(args.questions)
    print(
        f"# {len(qs)} questions, {args.rounds} rounds, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    head = ("engine", "batch", "engine ms/q", "ratio", "+ courtesy ms/q", "ratio")
    out = [head, tuple("---" for _ in head)]
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engine or ["default"]:
            layer = make_answerer(kb, engine, args.cache_dir or Path(tmp))
            assert isinstance(layer, CourtesyAnswerer)
            sizes = () if args.one_by_one else SIZES
            out.extend(_engine_rows(layer, qs, args.rounds, sizes))
    for row in out:
        print("| " + " | ".join(row) + " |")
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
