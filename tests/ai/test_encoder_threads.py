"""Encoders answer from several threads at once: the server's worker threads answer
concurrent first questions (warm-up, a slow engine), and an index's first question makes
the encoder's fast-path tables. Those were stored one attribute after another, so a
second thread could see some and not the others (``'TfidfEncoder' object has no
attribute '_idf'``: an ``ai_error`` handoff for a question the AI knows)."""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from handoff_server.ai.encoders import TfidfEncoder

TEXTS = [f"how do I configure thing number {i} with dns and email" for i in range(300)]
QUESTION = "how do I point my domain at your nameservers"


@pytest.fixture(scope="module")
def fitted() -> TfidfEncoder:
    """A fitted encoder that has answered nothing yet (no fast-path tables)."""
    return TfidfEncoder().fit(TEXTS)


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Threads switch as often as the interpreter lets them, so a window between two
    statements is hit within a few trials."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _at_once(work: Callable[[], Any], threads: int) -> tuple[list[Any], list[BaseException]]:
    """Run ``work`` in ``threads`` threads started together; their results and errors."""
    barrier = threading.Barrier(threads)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except Exception as exc:
            errors.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results, errors


@pytest.mark.usefixtures("eager_switching")
def test_first_questions_on_four_threads_at_once_all_get_the_same_row(
    fitted: TfidfEncoder,
) -> None:
    expected = copy.deepcopy(fitted).transform_rows([QUESTION]).toarray()
    for _ in range(150):
        enc = copy.deepcopy(fitted)  # fresh: as after a start or a reindex
        rows, errors = _at_once(lambda enc=enc: enc.transform_rows([QUESTION]), 4)
        assert errors == [], errors[0]
        assert all(np.array_equal(r.toarray(), expected) for r in rows)


@pytest.mark.usefixtures("eager_switching")
def test_questions_and_unseen_words_beside_forget(fitted: TfidfEncoder) -> None:
    """``forget`` (dropping the build memo, and with it the fast-path tables) while
    questions are answered: each answer reads the tables it found, whole."""
    expected = copy.deepcopy(fitted).transform_rows([QUESTION]).toarray()
    for _ in range(150):
        enc = copy.deepcopy(fitted)

        def work(enc: TfidfEncoder = enc) -> Any:
            enc.forget()
            return enc.transform_rows([QUESTION]), enc.unseen([QUESTION])

        done, errors = _at_once(work, 4)
        assert errors == [], errors[0]
        assert all(np.array_equal(r.toarray(), expected) for r, _ in done)
        assert len({float(u[0]) for _, u in done}) == 1
