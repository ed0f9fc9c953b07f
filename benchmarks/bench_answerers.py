"""Benchmark the answer engines on the CLINC150 KB (not a test; prints a table).

For each engine: index build time (s), load time from the on-disk cache (s), memory of the
loaded index (tracemalloc peak while loading, MiB), and the median / p99 time to answer one
question (ms) over CLINC150 val questions, beside a same-run baseline: nearest neighbour
(max cosine over the same example vectors, no classifier or calibration).

    .venv/bin/python benchmarks/bench_answerers.py [--engine default --engine embeddings] [--n 500]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from handoff_server.ai.factory import load_or_build_index
from handoff_server.ai.retrieval import RetrievalAnswerer
from handoff_server.kb import load_kb

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clinc150"


def _latencies(fn, questions: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    for q in questions[:20]:
        fn(q)
    out = []
    for q in questions:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return np.array(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engine", action="append", help="engine(s); default: default, embeddings")
    ap.add_argument("--n", type=int, default=500, help="questions to time")
    ap.add_argument("--kb", type=Path, default=DATA / "train.csv")
    ap.add_argument("--questions", type=Path, default=DATA / "val.csv")
    args = ap.parse_args()
    engines = args.engine or ["default", "embeddings"]
    kb = load_kb(args.kb)
    with args.questions.open(encoding="utf-8") as fh:
        questions = [r["text"] for r in csv.DictReader(fh)][: args.n]
    rows = []
    for engine in engines:
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            load_or_build_index(kb, engine, Path(cache))
            build = time.perf_counter() - t
            tracemalloc.start()
            t = time.perf_counter()
            index, cached = load_or_build_index(kb, engine, Path(cache))
            load = time.perf_counter() - t
            mem = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            assert cached
        answerer = RetrievalAnswerer(kb, index)
        lat = _latencies(answerer.answer, questions)
        layout = index.layout

        def nearest(q: str, layout: Any = layout, index: Any = index) -> str:
            sims = layout.nearest(index.encoder.transform([q]))
            return index.classes[int(sims[0].argmax())]

        base = _latencies(nearest, questions)
        rows.append(
            (
                engine,
                build,
                load,
                mem,
                np.median(lat),
                np.percentile(lat, 99),
                np.median(base),
                np.median(lat) / np.median(base),
            )
        )
    head = (
        "engine",
        "build s",
        "load s",
        "index MiB",
        "median ms",
        "p99 ms",
        "NN median ms",
        "ratio",
    )
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(
            f"{r[0]} | {r[1]:.1f} | {r[2]:.2f} | {r[3]:.0f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.2f}"
        )


if __name__ == "__main__":
    main()
