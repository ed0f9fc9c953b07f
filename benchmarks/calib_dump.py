"""Cheap iteration on the answerer's calibration (not a test).

``dump``: for each seed of ``heldout_splits.py``'s splits, build the index once with every
candidate calibration feature on (k-th nearest cosines for ``--ks``, energy and max-logit)
and extra held-out-topic rounds of several kinds, and save per split to ``OUT/SEED.npz``:

- ``feats`` (m, k) / ``right`` (m,) / ``group`` (m,): calibration rows; group ``ex`` (an
  out-of-fold KB example), ``oos`` (a KB out-of-scope example) or ``KIND:ROUND`` for a
  held-out-topic round: ``r25`` random quarter (rounds 0–3 are exactly the production
  rounds, 4–7 continue the same random stream), ``r10`` random tenth, ``pair`` an entry
  together with its nearest neighbour entry (by out-of-fold confusion), ``keep`` entries
  whose nearest neighbour stays in training;
- ``test_feats`` / ``test_right`` / ``test_oos``: the split's questions, scored by the
  index fitted on the whole KB;
- ``names``: the feature columns.

``fit``: refit the production calibrator (same gradient-boosted trees, monotone) on a
chosen set of columns and rows for every dumped split, and print the metrics at
``--threshold`` per split and mean ± sd, without rebuilding anything:

    .venv/bin/python benchmarks/calib_dump.py dump --engine embeddings --seeds 0 1 --out /tmp/d
    .venv/bin/python benchmarks/calib_dump.py fit /tmp/d --drop kth2,kth3 --rounds r25:4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heldout_splits import EmbeddingCache, _write, make_split  # noqa: E402

from handoff_server.ai import retrieval as R  # noqa: E402
from handoff_server.ai.encoders import MiniLMEncoder  # noqa: E402
from handoff_server.ai.factory import ENGINES, _engine  # noqa: E402
from handoff_server.ai.heads import Fusion  # noqa: E402
from handoff_server.analytics import compute_metrics, predict  # noqa: E402
from handoff_server.kb import load_kb  # noqa: E402

ROUNDS = {"r25": (0.25, 8), "r10": (0.10, 6), "pair": (0.25, 4), "keep": (0.25, 3)}


def _names(heads: int) -> list[str]:
    base = ["lp1", "margin", "lp_oos", "sim_top", "sim_oos", "unseen", "rel", "maha"]
    base += [f"head{h}" for h in range(heads if heads > 1 else 0)]
    base += [f"kth{k}" for k in R._KTH_KS]
    return base + ["energy", "maxlogit"][: R._ENERGY] + ["crowd", "cover"][: 2 * R._CROWD]


def _neighbours(fused: np.ndarray, y: np.ndarray, oos: int, entries: np.ndarray) -> np.ndarray:
    """Each class's nearest other entry: the one its examples' out-of-fold softmax puts
    most mass on, besides itself and the reject class."""
    p = np.exp(fused - fused.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    nb = np.full(fused.shape[1], -1)
    for c in entries:
        m = p[y == c].mean(0)
        m[[c, oos]] = -1
        mask = np.full(len(m), -1.0)
        mask[entries] = m[entries]
        nb[c] = int(np.argmax(mask))
    return nb


def _held(kind: str, rng: np.random.Generator, entries: np.ndarray, nb: np.ndarray) -> Any:
    share = ROUNDS[kind][0]
    n_out = max(1, round(len(entries) * share))
    if kind in ("r25", "r10"):
        return rng.choice(entries, n_out, replace=False)
    held: list[int] = []
    for c in rng.permutation(entries):
        if len(held) >= n_out:
            break
        if kind == "pair" and c not in held:
            held += [int(c)] + ([int(nb[c])] if nb[c] not in held else [])
        elif kind == "keep" and c not in held and nb[c] not in held and c not in nb[held]:
            held.append(int(c))
    return np.array(held)


def _score_questions(
    answerer: R.RetrievalAnswerer, kb: Any, q_rows: list[tuple[str, str]]
) -> tuple[Any, np.ndarray]:
    """The questions' predictions, and the calibration features the answerer computed for
    them (captured on their way to the calibrator)."""
    captured: list[np.ndarray] = []
    original = R._calibrate

    def capture(ix: Any, f: np.ndarray) -> np.ndarray:
        captured.append(f)
        return original(ix, f)

    R._calibrate = capture  # type: ignore[assignment]
    try:
        q_texts, q_labels = [t for t, _ in q_rows], [lab for _, lab in q_rows]
        p = predict(answerer, {e.id for e in kb.entries if not e.out_of_scope}, q_texts, q_labels)
    finally:
        R._calibrate = original  # type: ignore[assignment]
    return p, np.vstack(captured)


def _rounds(
    encoder: Any,
    tx: np.ndarray,
    y: np.ndarray,
    oos: int,
    n_classes: int,
    fusion: Fusion,
    kinds: list[str],
    nb: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Feature rows and group labels of the held-out-topic rounds of ``kinds``."""
    entries = np.array([c for c in range(n_classes) if c != oos and (y == c).any()])
    parts, groups = [], []
    for kind, (_, n_rounds) in ROUNDS.items():
        if kind not in kinds:
            continue
        rng = np.random.default_rng({"r25": 0, "r10": 100, "pair": 200, "keep": 300}[kind])
        for r in range(n_rounds):
            held = _held(kind, rng, entries, nb)
            f = R._held_out_round(encoder, tx, y, held, oos, n_classes, fusion, 4.0)
            parts.append(f)
            groups.append(np.array([f"{kind}:{r}"] * len(f), dtype=object))
    return parts, groups


def dump(engine: str, seed: int, out: Path, cache: EmbeddingCache, kinds: list[str]) -> None:
    """Build split ``seed`` with ``engine`` and write ``out/SEED.npz`` (module docstring)."""
    kb_rows, q_rows = make_split("banking77", seed)
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp) / "kb.csv", kb_rows)
        kb = load_kb(Path(tmp) / "kb.csv")
    encoder = ENGINES[name := _engine(engine)]()
    cache.attach(encoder)
    c0 = time.process_time()
    texts, labels = R.training_examples(kb)
    classes = sorted(set(labels))
    y, oos = np.array([classes.index(lab) for lab in labels]), classes.index(R._OOS)
    tx = np.array(texts, dtype=object)
    encoder.warm(texts, R.NO_PROGRESS) if hasattr(encoder, "warm") else None
    scores, sims, unseen, typical, maha, kth, entry = R._out_of_fold(
        encoder, tx, y, oos, len(classes), R._FOLDS, 0, 4.0
    )
    fusion = Fusion.fit(scores, y)
    fused = fusion.fused(scores)
    feats, top, _ = R._features(
        fused, 1.0, sims, oos, unseen, typical, maha, fusion.head_logp(scores), kth, entry
    )
    right = ((top == y) & (y != oos)).astype(int)
    group = np.where(y == oos, "oos", "ex").astype(object)
    entries = np.array([c for c in range(len(classes)) if c != oos and (y == c).any()])
    nb = _neighbours(fused, y, oos, entries)
    parts, groups = _rounds(encoder, tx, y, oos, len(classes), fusion, kinds, nb)
    parts, groups = [feats, *parts], [group, *groups]
    all_feats, all_groups = np.vstack(parts), np.concatenate(groups)
    all_right = np.concatenate([right, np.zeros(len(all_feats) - len(right), dtype=int)])
    prod = np.isin(all_groups, ["ex", "oos", "r25:0", "r25:1", "r25:2", "r25:3"])
    n_pseudo = int(prod.sum()) - len(right)
    w = R._calibration_weights(y == oos, n_pseudo, R._OOS_SHARE, R._PSEUDO_SHARE)
    calibrator = R._fit_calibrator(all_feats[prod], all_right[prod], w)
    index = R._final_index(name, encoder, texts, y, classes, 4.0, fusion, calibrator)
    index.typos = R.TypoCorrector.of([*texts, *(e.answer for e in kb.entries)])
    cache.attach(index.encoder)
    build_cpu = time.process_time() - c0
    answerer = R.RetrievalAnswerer(kb, index)
    emb = getattr(index.encoder, "emb", index.encoder)
    if isinstance(emb, MiniLMEncoder):  # remember the questions' vectors (as prepared) too
        emb.fit([answerer.prepare(t) for t, _ in q_rows])
        cache.save()
    p, test_feats = _score_questions(answerer, kb, q_rows)
    np.savez(
        out / f"{seed}.npz",
        feats=all_feats,
        right=all_right,
        group=all_groups.astype(str),
        test_feats=test_feats,
        test_right=p.right,
        test_oos=p.oos,
        test_conf=p.confidence,
        names=np.array(_names(fusion.heads)),
    )
    m = compute_metrics(p.confidence, p.right, p.oos, 0.70)
    print(f"seed {seed}: {build_cpu:.0f} s CPU, with every feature at 0.70: {m}", flush=True)


def _directions(names: list[str]) -> list[int]:
    minus = {"lp_oos", "sim_oos", "unseen", "maha", "crowd"}
    return [-1 if n in minus else 1 for n in names]


def _wrong_at_containment(
    conf: np.ndarray, right: np.ndarray, oos: np.ndarray, target: float
) -> tuple[float, float]:
    """Wrong-answer rate and out-of-scope recall at the strictest threshold whose
    containment reaches ``target``: how well the confidence ranks, whatever its prior."""
    order = np.argsort(-conf, kind="stable")
    r, o = right[order].astype(float), oos[order].astype(float)
    n_in = (~oos).sum()
    cont = np.cumsum(r) / n_in
    i = int(np.searchsorted(cont, target))
    i = min(i, len(conf) - 1)
    answered = i + 1
    wrong = answered - r[: i + 1].sum()
    return wrong / answered, 1 - o[: i + 1].sum() / max(1, oos.sum())


def fit(path: Path, drop: list[str], rounds: dict[str, int], threshold: float) -> dict[str, Any]:
    """Refit the calibrator on every ``path/*.npz`` without the columns ``drop``, with the
    held-out rounds ``{kind: first n}``; per split (seed, containment, oos recall, wrong,
    ECE at ``threshold``, wrong and recall at containment 0.80) in ``rows``, with their
    ``mean`` and ``sd`` over splits."""
    rows = []
    for f in sorted(path.glob("*.npz"), key=lambda p: int(p.stem)):
        z = np.load(f, allow_pickle=False)
        names = list(z["names"])
        keep = [i for i, n in enumerate(names) if n not in drop]
        group = z["group"]
        kinds = np.array([g.split(":")[0] for g in group])
        idx = np.array([int(g.split(":")[1]) if ":" in g else -1 for g in group])
        base = np.isin(group, ["ex", "oos"])
        pseudo = np.zeros(len(group), dtype=bool)
        for kind, n in rounds.items():
            pseudo |= (kinds == kind) & (idx < n)
        sel = base | pseudo
        is_oos = group[base] == "oos"
        w = R._calibration_weights(is_oos, int(pseudo.sum()), R._OOS_SHARE, R._PSEUDO_SHARE)
        x = z["feats"][sel][:, keep]
        gbm = R._gbm(len(x), len(keep))
        gbm.set_params(monotonic_cst=_directions([names[i] for i in keep]))
        gbm.fit(x, z["right"][sel], sample_weight=w)
        conf = gbm.predict_proba(z["test_feats"][:, keep])[:, 1]
        m = compute_metrics(conf, z["test_right"], z["test_oos"], threshold)
        w80 = _wrong_at_containment(conf, z["test_right"], z["test_oos"], 0.80)
        rows.append((int(f.stem), m.containment, m.oos_recall, m.wrong_answer_rate, m.ece, *w80))
    arr = np.array(rows)
    return {"rows": arr, "mean": arr[:, 1:].mean(0), "sd": arr[:, 1:].std(0, ddof=1)}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--engine", default="embeddings", choices=sorted(ENGINES))
    d.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--ks", default="2,3,5,10")
    d.add_argument("--kinds", default=",".join(ROUNDS), help="held-out round kinds to run")
    d.add_argument(
        "--emb-cache", type=Path, default=Path(tempfile.gettempdir()) / "handoff-minilm-cache.npz"
    )
    f = sub.add_parser("fit")
    f.add_argument("path", type=Path)
    f.add_argument("--drop", default="", help="feature columns left out, comma-separated")
    f.add_argument("--rounds", default="r25:4", help="held-out rounds used, KIND:N,...")
    f.add_argument("--threshold", type=float, default=0.70)
    args = ap.parse_args()
    if args.cmd == "dump":
        R._KTH_KS = tuple(int(k) for k in args.ks.split(","))
        R._ENERGY = 2
        R._CROWD = 1
        args.out.mkdir(parents=True, exist_ok=True)
        cache = EmbeddingCache(args.emb_cache)
        for seed in args.seeds:
            dump(args.engine, seed, args.out, cache, args.kinds.split(","))
        return
    rounds = {k: int(n) for k, n in (item.split(":") for item in args.rounds.split(",") if item)}
    res = fit(args.path, [c for c in args.drop.split(",") if c], rounds, args.threshold)
    for r in res["rows"]:
        print(f"seed {int(r[0])}: " + " / ".join(f"{v:.3f}" for v in r[1:]))
    print(
        "containment / oos_recall / wrong / ECE / wrong and recall at containment 0.80: "
        + " / ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(res["mean"], res["sd"], strict=True))
    )


if __name__ == "__main__":
    main()
