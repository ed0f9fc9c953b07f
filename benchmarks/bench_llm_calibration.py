"""Calibration of the ``llm`` engine's confidence on the demo KB's held-out questions.

The model is the deterministic scripted one of ``tests/llm_fake.py`` (a real HTTP
server on a free port speaking Chat Completions with streaming and ``logprobs``); the
questions are ``tests/data/demo_questions.csv`` (reworded questions, none of them a KB
example, and out-of-scope ones). An answer is **right** when its first cited entry is
the question's label and the script wrote no invented sentence (out-of-scope questions
have no right answer). The faithfulness model (:mod:`handoff_server.ai.llm.confidence`)
is fitted on one half of the questions and measured on the other, both ways, over
``--seeds`` random halvings; the table gives mean ± sd. The baseline (same run) is the
retrieval confidence alone on the same answers.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_llm_calibration.py [--seeds 0 1 2 3 4]
        [--threshold 0.70] [--write]

``--write`` fits on every question and writes ``src/handoff_server/ai/llm/calibration.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.llm_fake import ScriptedModelServer  # noqa: E402

from handoff_server.ai.courtesy_layer import without_courtesy  # noqa: E402
from handoff_server.ai.factory import make_answerer  # noqa: E402
from handoff_server.ai.llm.answerer import LLMAnswerer  # noqa: E402
from handoff_server.ai.llm.client import ModelError  # noqa: E402
from handoff_server.ai.llm.confidence import SHIPPED, Calibration, Evidence  # noqa: E402
from handoff_server.ai.llm.settings import LLMSettings  # noqa: E402
from handoff_server.analytics import ece  # noqa: E402
from handoff_server.kb import load_kb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "demo_questions.csv"


def collect() -> list[tuple[Evidence, bool, bool, str]]:
    """Per question: (evidence, right, faithful, what the script wrote)."""
    kb = load_kb(None)
    with tempfile.TemporaryDirectory() as cache:
        retrieval = without_courtesy(make_answerer(kb, "default", cache_dir=Path(cache)))
    rows = list(csv.DictReader(QUESTIONS.open(encoding="utf-8", newline="")))
    out: list[tuple[Evidence, bool, bool, str]] = []
    with ScriptedModelServer() as srv:
        settings = LLMSettings(base_url=srv.base_url, model="scripted")
        neutral = Calibration((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        llm = LLMAnswerer(kb, retrieval, settings, calibration=neutral)
        for row in rows:
            try:
                answer, ev = llm.answer_with_evidence(row["text"], lambda _t: None)
            except ModelError:
                continue  # escalated as ai_error: never shown, not scored
            assert ev is not None
            kind = srv.replies[-1].kind
            faithful = kind != "invented"
            right = answer.entry_id == row["label"].strip() and faithful
            out.append((ev, right, faithful, kind))
    return out


def fit(evs: list[Evidence], faithful: np.ndarray, logprobs: bool) -> tuple[float, ...]:
    """Logistic weights (bias, then one per feature), negative weights set to 0."""
    x = np.array([_features(e, logprobs) for e in evs])
    lr = LogisticRegression(C=1.0).fit(x, faithful)
    return (float(lr.intercept_[0]), *(max(0.0, float(w)) for w in lr.coef_[0]))


def _features(e: Evidence, logprobs: bool) -> list[float]:
    f = e.features()
    return f if logprobs else f[:2]


def _strip(e: Evidence) -> Evidence:
    return Evidence(e.retrieval, e.entry, e.support_min, e.support_share, None)


def measure(conf: np.ndarray, right: np.ndarray, t: float) -> dict[str, float]:
    """ECE, Brier, share answered at ``t``, wrong-answer rate among them."""
    answered = conf >= t
    wrong = float((~right[answered]).mean()) if answered.any() else 0.0
    return {
        "ece": ece(conf, right),
        "brier": float(np.mean((conf - right) ** 2)),
        "answered": float(answered.mean()),
        "wrong_rate": wrong,
    }


def run(
    data: list[tuple[Evidence, bool, bool, str]], seeds: list[int], t: float
) -> dict[str, list[dict[str, float]]]:
    evs = [d[0] for d in data]
    right = np.array([d[1] for d in data])
    faithful = np.array([d[2] for d in data])
    results: dict[str, list[dict[str, float]]] = {
        "retrieval": [],
        "no_logprobs": [],
        "logprobs": [],
        "faithful": [],
    }
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(len(evs))
        halves = [perm[: len(perm) // 2], perm[len(perm) // 2 :]]
        confs = {k: np.zeros(len(evs)) for k in results}
        for a, b in (halves, halves[::-1]):
            cal = Calibration(
                fit([evs[i] for i in a], faithful[a], True),
                fit([evs[i] for i in a], faithful[a], False),
            )
            for i in b:
                confs["retrieval"][i] = evs[i].retrieval
                confs["logprobs"][i] = cal.confidence(evs[i])
                confs["no_logprobs"][i] = cal.confidence(_strip(evs[i]))
                confs["faithful"][i] = cal.faithful(evs[i])
        for k in results:
            target = faithful if k == "faithful" else right
            results[k].append(measure(confs[k], target, t))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threshold", type=float, default=0.70)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    data = collect()
    kinds = {k: sum(d[3] == k for d in data) for k in sorted({d[3] for d in data})}
    print(f"{len(data)} answers scored; scripted kinds: {kinds}; right: {sum(d[1] for d in data)}")
    results = run(data, args.seeds, args.threshold)
    names = {
        "retrieval": "retrieval confidence alone (baseline)",
        "no_logprobs": "entry × faithful (support)",
        "logprobs": "entry × faithful (support + logprobs)",
        "faithful": "faithful alone, against the faithfulness label",
    }
    print(
        f"\n| confidence | ECE | Brier | answered at {args.threshold:.2f} | wrong among answered | Brier ratio to baseline |"
    )
    print("|---|---|---|---|---|---|")
    base_brier = np.mean([r["brier"] for r in results["retrieval"]])
    for key, name in names.items():
        rs = results[key]
        cells = []
        for m in ("ece", "brier", "answered", "wrong_rate"):
            v = np.array([r[m] for r in rs])
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
        ratio = np.mean([r["brier"] for r in rs]) / base_brier
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    invented = [d for d in data if d[3] == "invented"]
    for kind in kinds:
        mean = np.mean([d[0].support_min for d in data if d[3] == kind])
        print(f"weakest-sentence support, {kind}: {mean:.2f}")
    if args.write:
        evs = [d[0] for d in data]
        faithful = np.array([d[2] for d in data])
        out = {
            "source": f"benchmarks/bench_llm_calibration.py --write: demo KB, {len(data)} "
            "questions of tests/data/demo_questions.csv, scripted model (tests/llm_fake.py)",
            "with_logprobs": list(fit(evs, faithful, True)),
            "without_logprobs": list(fit(evs, faithful, False)),
        }
        SHIPPED.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(
            f"\nwrote {SHIPPED.relative_to(ROOT)}: {out['with_logprobs']} / {out['without_logprobs']}"
        )
        cal = Calibration.load()
        passed = sum(cal.confidence(d[0]) >= args.threshold for d in invented)
        print(
            f"answers with an invented sentence at or above {args.threshold:.2f}: {passed} of {len(invented)}"
        )


if __name__ == "__main__":
    main()
