"""Unknown-topic detection over several random quarter-held-out splits (not a test).

For each seed, a quarter of the intents of a dataset is left out of the KB and their
questions are relabelled ``oos`` (a question the KB does not cover must be handed off):

- ``banking77``: only train.csv exists here; per intent 80% of its rows become KB
  examples and 20% questions (as ``banking77_split.py`` always did, for seed 0).
- ``clinc150``: KB = train.csv (with its 100 ``oos`` rows), questions = val.csv; the
  left-out intents leave the KB and their val questions become ``oos``.

Never a test split: the data README keeps those for checking, and so does this script.

Per split it reports, over all the split's questions, containment, out-of-scope recall,
wrong-answer rate (wrong answers / answers given) and ECE at ``--threshold``; and the
risk-controlled threshold (:func:`handoff_server.analytics.risk_controlled_threshold`,
``--target-risk`` at ``--oos-share``) chosen on one random half of the questions and
measured on the other half (a threshold picked and measured on the same questions
flatters itself). Then mean ± sample sd over the seeds.

    .venv/bin/python benchmarks/heldout_splits.py --dataset banking77 --engine default \
        --seeds 0 1 2 3 4 [--json OUT.json] [--write-split DIR]

``--emb-cache FILE`` (default ``$TMPDIR/handoff-minilm-cache.npz``) keeps MiniLM vectors
between runs: the same ~28,000 texts are encoded once, not per split.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from handoff_server.ai import retrieval
from handoff_server.ai.encoders import MiniLMEncoder
from handoff_server.ai.factory import ENGINES, _engine
from handoff_server.ai.retrieval import RetrievalAnswerer, build_index
from handoff_server.analytics import (
    compute_metrics,
    predict,
    risk_controlled_threshold,
    risk_coverage,
)
from handoff_server.kb import load_kb

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT_SHARE = 0.25
QUESTION_SHARE = 0.20


def _read(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [(r[0], r[1]) for r in reader if len(r) >= 2]


def make_split(dataset: str, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(kb_rows, question_rows)`` of ``(text, label)`` for one seed."""
    rng = random.Random(seed)
    if dataset == "banking77":
        by_intent: dict[str, list[str]] = defaultdict(list)
        for text, label in _read(DATA / "banking77" / "train.csv"):
            by_intent[label].append(text)
        intents = sorted(by_intent)
        left_out = set(rng.sample(intents, round(len(intents) * HELD_OUT_SHARE)))
        kb_rows, q_rows = [], []
        for intent in intents:
            texts = by_intent[intent][:]
            rng.shuffle(texts)
            n_q = max(1, round(len(texts) * QUESTION_SHARE))
            label = "oos" if intent in left_out else intent
            q_rows += [(t, label) for t in texts[:n_q]]
            if intent not in left_out:
                kb_rows += [(t, intent) for t in texts[n_q:]]
        return kb_rows, q_rows
    if dataset == "clinc150":
        train = _read(DATA / "clinc150" / "train.csv")
        val = _read(DATA / "clinc150" / "val.csv")
        intents = sorted({lab for _, lab in train if lab != "oos"})
        left_out = set(rng.sample(intents, round(len(intents) * HELD_OUT_SHARE)))
        kb_rows = [(t, lab) for t, lab in train if lab not in left_out]
        q_rows = [(t, "oos" if lab in left_out else lab) for t, lab in val]
        return kb_rows, q_rows
    raise SystemExit(f"unknown dataset {dataset!r}")


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)


class EmbeddingCache:
    """MiniLM vectors by text, kept in one ``.npz`` file between runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.memo: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                self.memo = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))

    def attach(self, encoder: Any) -> None:
        from handoff_server.ai.encoders import MiniLMEncoder

        emb = getattr(encoder, "emb", encoder)
        if isinstance(emb, MiniLMEncoder):
            emb.memo = self.memo

    def save(self) -> None:
        if not self.memo:
            return
        texts = list(self.memo)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, texts=np.array(texts), vectors=np.stack([self.memo[t] for t in texts]))
        tmp.replace(self.path)


def _one(
    dataset: str, engine: str, seed: int, args: argparse.Namespace, cache: EmbeddingCache
) -> dict[str, Any]:
    kb_rows, q_rows = make_split(dataset, seed)
    with tempfile.TemporaryDirectory() as tmp:
        kb_path = Path(tmp) / "kb.csv"
        _write(kb_path, kb_rows)
        kb = load_kb(kb_path)
        if args.write_split:
            out = Path(args.write_split) / f"{dataset}-{seed}"
            out.mkdir(parents=True, exist_ok=True)
            _write(out / "kb.csv", kb_rows)
            _write(out / "questions.csv", q_rows)
    name = _engine(engine)
    encoder = ENGINES[name]()
    cache.attach(encoder)
    t0, c0 = time.perf_counter(), time.process_time()
    index = build_index(kb, name, encoder)
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    cache.attach(index.encoder)
    answerer = RetrievalAnswerer(kb, index)
    texts = [t for t, _ in q_rows]
    emb = getattr(index.encoder, "emb", index.encoder)
    if isinstance(emb, MiniLMEncoder):  # remember the questions' vectors (as prepared) too
        emb.fit([answerer.prepare(t) for t in texts])
    labels = [lab for _, lab in q_rows]
    p = predict(answerer, {e.id for e in kb.entries if not e.out_of_scope}, texts, labels)
    at = compute_metrics(p.confidence, p.right, p.oos, args.threshold)
    row: dict[str, Any] = {
        "seed": seed,
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "n": at.n,
        "n_oos": at.n_oos,
        "containment": at.containment,
        "oos_recall": at.oos_recall,
        "wrong_answer_rate": at.wrong_answer_rate,
        "ece": at.ece,
        "in_scope_accuracy": at.in_scope_accuracy,
    }
    row.update(_risk_controlled(p, seed, args))
    return row


def _risk_controlled(p: Any, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Threshold chosen on a random half of the questions, measured on the other half."""
    rng = np.random.default_rng(1000 + seed)
    pick = rng.permutation(len(p.confidence)) < len(p.confidence) // 2
    points = risk_coverage(p.confidence[pick], p.right[pick], p.oos[pick], oos_share=args.oos_share)
    t = risk_controlled_threshold(points, args.target_risk)
    out: dict[str, Any] = {"rc_threshold": t}
    held = ~pick
    if t is None:
        return out
    m = compute_metrics(p.confidence[held], p.right[held], p.oos[held], t)
    risk = risk_coverage(
        p.confidence[held], p.right[held], p.oos[held], oos_share=args.oos_share, thresholds=[t]
    )[0]
    out.update(
        rc_containment=m.containment,
        rc_oos_recall=m.oos_recall,
        rc_wrong_answer_rate=m.wrong_answer_rate,
        rc_ece=m.ece,
        rc_risk=risk.risk,
        rc_kept=risk.risk <= args.target_risk,
    )
    return out


KEYS = ["containment", "oos_recall", "wrong_answer_rate", "ece"]
RC_KEYS = ["rc_threshold", "rc_containment", "rc_oos_recall", "rc_wrong_answer_rate", "rc_risk"]


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in ["in_scope_accuracy", *KEYS, *RC_KEYS]:
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            out[k] = {
                "mean": float(np.mean(vals)),
                "sd": float(np.std(vals, ddof=1) if len(vals) > 1 else 0.0),
            }
    out["rc_found"] = sum(r.get("rc_threshold") is not None for r in rows)
    out["rc_kept"] = sum(bool(r.get("rc_kept")) for r in rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dataset", choices=["banking77", "clinc150"], required=True)
    ap.add_argument("--engine", default="default", choices=sorted(ENGINES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threshold", type=float, default=0.70)
    ap.add_argument("--target-risk", type=float, default=0.02)
    ap.add_argument("--oos-share", type=float, default=0.2)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a constant of handoff_server.ai.retrieval for an experiment",
    )
    ap.add_argument("--json", type=Path, help="also write every row and the summary here")
    ap.add_argument("--write-split", type=Path, help="also write each split's CSVs here")
    ap.add_argument(
        "--emb-cache", type=Path, default=Path(tempfile.gettempdir()) / "handoff-minilm-cache.npz"
    )
    args = ap.parse_args()
    for item in args.set:
        name, value = item.split("=", 1)
        current = getattr(retrieval, name)
        if isinstance(current, tuple):  # e.g. _KTH_KS=2,3
            setattr(retrieval, name, tuple(int(v) for v in value.split(",") if v))
        else:
            setattr(retrieval, name, type(current)(value))
    cache = EmbeddingCache(args.emb_cache)
    rows = []
    for seed in args.seeds:
        row = _one(args.dataset, args.engine, seed, args, cache)
        cache.save()
        rows.append(row)
        if args.json:
            args.json.write_text(
                json.dumps({"args": vars(args), "rows": rows}, default=str, indent=1)
            )
        print(
            f"seed {seed}: build {row['build_s']:.0f} s ({row['build_cpu_s']:.0f} s CPU) | "
            + " | ".join(f"{k} {row[k]:.3f}" for k in KEYS)
            + f" | rc t={row['rc_threshold']} "
            + " ".join(f"{k[3:]} {row[k]:.3f}" for k in RC_KEYS[1:] if row.get(k) is not None),
            flush=True,
        )
    summary = _summary(rows)
    print(
        f"\n{args.dataset}, engine {args.engine}, seeds {args.seeds}, "
        f"threshold {args.threshold}, set {args.set}"
    )
    for k, v in summary.items():
        print(
            f"{k:<22} {v['mean']:.3f} ± {v['sd']:.3f}"
            if isinstance(v, dict)
            else f"{k:<22} {v}/{len(rows)}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "rows": rows,
                    "summary": summary,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
