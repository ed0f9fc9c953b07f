"""How much of the out-of-scope weight held-out-topic rows get, and what it does (not a test).

The calibrator (``handoff_server.ai.retrieval``) learns P(top entry is right) from the
KB's own examples (out of fold) plus rows for questions about topics held out of training,
which all count as wrong. Those rows get ``_PSEUDO_SHARE`` of the out-of-scope weight,
which is ``_OOS_SHARE`` of the whole: together they are the share of *near misses* (a
question about a topic next to the KB's) the calibrator assumes traffic has
(0.9 × 0.30 = 27% by default).

Per dataset this builds each index once, keeps its calibration rows, refits only the
calibrator for every share in ``--pseudo-share`` (the module's own weighting and fit, so
nothing else changes) and reports at ``--threshold``: containment, out-of-scope recall,
wrong-answer rate (wrong answers / answers given) and ECE. Mean ± sd over the seeds of a
held-out split (as ``heldout_splits.py`` makes them), or one row for CLINC150 val.

    .venv/bin/python benchmarks/near_miss_prior.py --dataset banking77 --engine default
    .venv/bin/python benchmarks/near_miss_prior.py --dataset clinc150-val --engine default
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from heldout_splits import DATA, EmbeddingCache, _read, _write, make_split

from handoff_server.ai import retrieval
from handoff_server.ai.factory import ENGINES, _engine
from handoff_server.ai.retrieval import RetrievalAnswerer, build_index
from handoff_server.analytics import compute_metrics
from handoff_server.kb import load_kb
from handoff_server.kb.loader import label_to_id

KEYS = ["containment", "oos_recall", "wrong_answer_rate", "ece"]


class _Capture:
    """Keeps the calibration rows of the next build (the arguments of
    ``_calibration_weights`` and ``_fit_calibrator``) and the features of the next scoring."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}
        self.weights = weights = retrieval._calibration_weights
        self.fit = fit = retrieval._fit_calibrator
        calibrate = retrieval._calibrate

        def _weights(is_oos: np.ndarray, n_pseudo: int, *a: Any) -> np.ndarray:
            self.rows.update(is_oos=is_oos.copy(), n_pseudo=n_pseudo)
            return weights(is_oos, n_pseudo, *a)

        def _fit(feats: np.ndarray, right: np.ndarray, w: np.ndarray) -> Any:
            self.rows.update(feats=feats.copy(), right=right.copy())
            return fit(feats, right, w)

        def _calibrate(index: Any, feats: np.ndarray) -> np.ndarray:
            self.rows["questions"] = feats.copy()
            return calibrate(index, feats)

        retrieval._calibration_weights = _weights
        retrieval._fit_calibrator = _fit
        retrieval._calibrate = _calibrate


def _rows(dataset: str, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    if dataset == "clinc150-val":
        return _read(DATA / "clinc150" / "train.csv"), _read(DATA / "clinc150" / "val.csv")
    return make_split(dataset, seed)


def _one(
    dataset: str,
    engine: str,
    seed: int,
    args: argparse.Namespace,
    cap: _Capture,
    cache: EmbeddingCache,
) -> dict[float, dict[str, float]]:
    """Build once, then refit the calibrator for each of ``args.pseudo_share``."""
    kb_rows, q_rows = _rows(dataset, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kb.csv"
        _write(path, kb_rows)
        kb = load_kb(path)
    name = _engine(engine)
    encoder = ENGINES[name]()
    cache.attach(encoder)
    index = build_index(kb, name, encoder)
    cache.attach(index.encoder)
    cache.save()
    answerer = RetrievalAnswerer(kb, index)
    _, top, _ = answerer.score([t for t, _ in q_rows])
    labels = [lab if lab == "oos" else label_to_id(lab) for _, lab in q_rows]
    ids = np.array([index.classes[i] for i in top])
    oos = np.array([lab == "oos" or lab not in index.classes for lab in labels])
    right = (ids == np.array(labels)) & ~oos
    r = cap.rows
    out = {}
    for share in args.pseudo_share:
        w = cap.weights(r["is_oos"], r["n_pseudo"], retrieval._OOS_SHARE, share)
        keep = w > 0
        forest, const = cap.fit(r["feats"][keep], r["right"][keep], w[keep])
        conf = forest.predict_proba(r["questions"]) if forest else np.full(len(ids), const)
        m = compute_metrics(np.clip(conf, 0, 1), right, oos, args.threshold)
        out[share] = {k: float(getattr(m, k)) for k in KEYS}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dataset", choices=["banking77", "clinc150", "clinc150-val"], required=True)
    ap.add_argument("--engine", default="default", choices=sorted(ENGINES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threshold", type=float, default=0.70)
    ap.add_argument("--pseudo-share", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.6, 0.9])
    ap.add_argument(
        "--emb-cache", type=Path, default=Path(tempfile.gettempdir()) / "handoff-minilm-cache.npz"
    )
    args = ap.parse_args()
    seeds = [0] if args.dataset == "clinc150-val" else args.seeds
    cap, cache = _Capture(), EmbeddingCache(args.emb_cache)
    runs = []
    for seed in seeds:
        runs.append(_one(args.dataset, args.engine, seed, args, cap, cache))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    print(f"\n{args.dataset}, engine {args.engine}, seeds {seeds}, threshold {args.threshold}")
    print("| pseudo share | near-miss share | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 2) + "|")
    for share in args.pseudo_share:
        cells = []
        for k in KEYS:
            vals = [r[share][k] for r in runs]
            sd = np.std(vals, ddof=1) if len(vals) > 1 else 0.0
            cells.append(f"{np.mean(vals):.3f} ± {sd:.3f}" if len(vals) > 1 else f"{vals[0]:.3f}")
        near = share * retrieval._OOS_SHARE
        print(f"| {share:.2f} | {near:.2f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
