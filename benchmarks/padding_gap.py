"""How much padding costs a right answer's confidence, on tests/data/padded_questions.csv
(not a test; prints a table; the test is tests/ai/test_padding.py).

For every padded, signed, log-line or typo'd variant of a bare question: the bare
question's confidence minus the variant's, over pairs where both are answered with the
right entry (``gap``), and the share of variants whose top entry differs from the bare
question's (``changed``).

    .venv/bin/python benchmarks/padding_gap.py [--engine default] [--engine embeddings]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from handoff_server.ai import make_answerer
from handoff_server.kb import load_kb

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "padded_questions.csv"


def gaps(engine: str) -> dict[str, tuple[float, float, float, int]]:
    """kind → (mean gap, mean variant confidence, share changed, n)."""
    kb = load_kb(None)
    answerer = make_answerer(kb, engine)
    with DATA.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bare = {r["bare"]: answerer.answer(r["bare"]) for r in rows if r["kind"] == "bare"}
    out: dict[str, list[tuple[float, float, bool]]] = {}
    for r in rows:
        b = bare[r["bare"]]
        a = answerer.answer(r["text"])
        both_right = a.entry_id == r["label"] and b.entry_id == r["label"]
        gap = b.confidence - a.confidence if both_right else np.nan
        out.setdefault(r["kind"], []).append((gap, a.confidence, a.entry_id != b.entry_id))
    out["all variants"] = [v for kind, vals in out.items() if kind != "bare" for v in vals]
    result = {}
    for kind, vals in out.items():
        g = np.array([v[0] for v in vals])
        result[kind] = (
            float(np.nanmean(g)) if (~np.isnan(g)).any() else float("nan"),
            float(np.mean([v[1] for v in vals])),
            float(np.mean([v[2] for v in vals])),
            len(vals),
        )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--engine", action="append")
    args = ap.parse_args()
    print("engine | kind | n | mean confidence | gap to bare (both right) | top entry changed")
    print("--- | --- | --- | --- | --- | ---")
    for engine in args.engine or ["default"]:
        for kind, (gap, conf, changed, n) in gaps(engine).items():
            print(f"{engine} | {kind} | {n} | {conf:.3f} | {gap:+.3f} | {changed:.3f}")


if __name__ == "__main__":
    main()
