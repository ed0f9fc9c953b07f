"""``handoff eval --save``: keep an evaluation's per-question results in the store, where
the server's risk–coverage screen reads the latest (see
:mod:`handoff_server.analytics.coverage`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from handoff_server.config import Settings
from handoff_server.store import EvalRun, opened_store, utcnow

if TYPE_CHECKING:
    from handoff_server.analytics.evaluation import Predictions

__all__ = ["save_eval"]


def save_eval(settings: Settings, kb: Path | None, engine: str, preds: Predictions) -> None:
    """Store ``preds`` (confidence and right/wrong per question) as the newest eval run of
    ``kb`` (``None``: the demo KB) with ``engine``, in the store ``settings`` name."""
    run = EvalRun(
        created_at=utcnow(),
        engine=engine,
        kb=str(kb) if kb is not None else "demo",
        samples=[(float(c), bool(r)) for c, r in zip(preds.confidence, preds.right, strict=True)],
    )
    with opened_store(settings.store) as store:
        store.save_eval_run(run)
