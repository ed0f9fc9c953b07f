"""MiniLM's cost with torch on one thread against two, in the same run (``embeddings``
engine; ``ai/encoders.py`` ``TORCH_THREADS``).

Prints CPU (``time.process_time``: every thread of this process) and wall milliseconds
per question encoded alone (as a visitor's turn is) and per text in batches of 64 (as an
index build encodes), for each thread count, alternating, and each figure's ratio to the
two-thread one. Needs the ``embeddings`` extra.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_minilm_threads.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import torch

from handoff_server.ai.encoders import _minilm

QUESTIONS = [
    "how do I reset my password",
    "my card was declined at the shop this morning, why",
    "where is my refund for the order I sent back last week",
    "can I change the email address on my account",
    "the app keeps logging me out when I switch networks",
]


def _time(model: Any, texts: list[str], batch: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per text encoding ``texts`` in batches of ``batch``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(texts), batch):
        model.encode(texts[i : i + batch], show_progress_bar=False)
    n = len(texts)
    return (time.process_time() - cpu) / n * 1e3, (time.perf_counter() - wall) / n * 1e3


def main(rounds: int) -> None:
    model = _minilm()
    singles = QUESTIONS * 6
    batch = [f"{q} (variant {i})" for i in range(52) for q in QUESTIONS][:256]
    model.encode(singles[:4], show_progress_bar=False)
    runs: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for threads in (2, 1):
            torch.set_num_threads(threads)
            runs.setdefault((threads, "alone"), []).append(_time(model, singles, 1))
            runs.setdefault((threads, "batch 64"), []).append(_time(model, batch, 64))
    print(f"# {os.cpu_count()} cores · load average {os.getloadavg()[0]:.2f} · {rounds} rounds")
    print(f"{'threads':>8} {'texts':>9} {'cpu ms':>8} {'wall ms':>8} {'cpu x':>6} {'wall x':>7}")
    for kind in ("alone", "batch 64"):
        base_cpu = statistics.median(c for c, _ in runs[(2, kind)])
        base_wall = statistics.median(w for _, w in runs[(2, kind)])
        for threads in (2, 1):
            cpu = statistics.median(c for c, _ in runs[(threads, kind)])
            wall = statistics.median(w for _, w in runs[(threads, kind)])
            print(
                f"{threads:>8} {kind:>9} {cpu:>8.2f} {wall:>8.2f}"
                f" {cpu / base_cpu:>6.2f} {wall / base_wall:>7.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    main(parser.parse_args().rounds)
