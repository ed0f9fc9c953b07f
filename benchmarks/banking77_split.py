"""Make the BANKING77 evaluation split used in docs/ai.md (deterministic, seed 0).

BANKING77 ships only a train split here. Per intent, 80% of its rows become KB examples
and 20% visitor questions. A quarter of the 77 intents (19, chosen with the seed) are
left out of the KB entirely: their questions are relabelled ``oos``, because the right
move for a question the KB does not cover is to hand it off.

    .venv/bin/python benchmarks/banking77_split.py OUT_DIR
    .venv/bin/handoff eval --kb OUT_DIR/kb.csv --questions OUT_DIR/questions.csv --sweep --json

Writes ``OUT_DIR/kb.csv`` and ``OUT_DIR/questions.csv`` (``text,label``) and prints the
left-out intents.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77" / "train.csv"
SEED = 0
HELD_OUT_SHARE = 0.25
QUESTION_SHARE = 0.20


def main(out: Path) -> None:
    """Write the split into ``out``."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    with SOURCE.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_intent[row["category"]].append(row["text"])
    rng = random.Random(SEED)
    intents = sorted(by_intent)
    left_out = set(rng.sample(intents, round(len(intents) * HELD_OUT_SHARE)))
    kb_rows, question_rows = [], []
    for intent in intents:
        texts = by_intent[intent][:]
        rng.shuffle(texts)
        n_q = max(1, round(len(texts) * QUESTION_SHARE))
        questions, examples = texts[:n_q], texts[n_q:]
        label = "oos" if intent in left_out else intent
        question_rows += [(t, label) for t in questions]
        if intent not in left_out:
            kb_rows += [(t, intent) for t in examples]
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("kb.csv", kb_rows), ("questions.csv", question_rows)):
        with (out / name).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "label"])
            w.writerows(rows)
    n_oos = sum(1 for _, lab in question_rows if lab == "oos")
    print(f"KB: {len(kb_rows)} examples, {len(intents) - len(left_out)} intents")
    print(f"questions: {len(question_rows)} ({n_oos} out of scope)")
    print("left out:", ", ".join(sorted(left_out)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
