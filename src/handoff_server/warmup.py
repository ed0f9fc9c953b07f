"""The first index build of ``handoff serve``, in the background while the server listens.

Building an index takes seconds to minutes (the demo KB about 10 s, a 15,000-question KB
about 2 minutes with the default engine, 9 with embeddings; docs/ai.md); loading a
cached one under a second. So the server binds its port first and builds afterwards:

- ``/healthz`` answers 200 at once (the process is alive);
- ``/readyz`` answers 503 ``not ready: building index`` until the answerer is in place,
  then 200;
- a visitor or agent connecting meanwhile is refused in the handshake with HTTP 503,
  ``Retry-After: 5`` and the body ``not_ready: ...`` (a stable code): try again, nothing
  was stored. Accepting them and holding their first message would hide a wait of
  unknown length behind a silent chat window;
- the log says what is being built, for how many examples, about how long it should take
  (:func:`build_estimate`) and, every few seconds, how far it is
  (:class:`~handoff_server.progress.LogProgress`).

The build runs in a daemon thread, not the event loop's executor: stopping the server
during a build must not wait for the build to finish (an unfinished cache file is a
temporary file that is never renamed into place).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from handoff_server.ai.base import Answer
from handoff_server.errors import AnswererError
from handoff_server.kb.models import KnowledgeBase

__all__ = ["BUILDING", "NotReadyAnswerer", "build_estimate", "in_daemon_thread", "log_build_start"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BUILDING = "building index"
"""Why the server is not ready while the first index builds (``/readyz`` says it)."""

_SECONDS_PER_EXAMPLE = {"tfidf": 0.008, "embeddings": 0.034, "minilm": 0.030}
_FIXED_SECONDS = {"tfidf": 5.2, "embeddings": 15.0, "minilm": 15.0}
"""Build time ≈ fixed + per example × examples: fitted to two builds on the shared
2-core machine (the demo KB, 599 examples: 10 s; CLINC150, 15,100 examples: 126 s
default and 525 s embeddings, docs/ai.md); the default's line goes through both of its
points (5.2 + 0.008 × 599 = 10.0 s, the README's figure; 5.2 + 0.008 × 15,100 = 126 s).
A busy machine takes longer."""


class NotReadyAnswerer:
    """The answerer in place until the real one is built: refuses every question with
    :class:`~handoff_server.errors.AnswererError`. Nobody should reach it, since
    handshakes are refused until the server is ready; if a turn did, it escalates with
    trigger ``ai_error`` like any AI failure."""

    def answer(self, question: str) -> Answer:
        """Raise :class:`~handoff_server.errors.AnswererError` (the index is building)."""
        raise AnswererError("the AI's index is still being built")


def build_estimate(kb: KnowledgeBase, engine: str) -> float:
    """Rough seconds a build of ``kb``'s index with ``engine`` takes on a 2-core machine
    (see :data:`_SECONDS_PER_EXAMPLE`); the example count is the KB's example questions,
    titles and out-of-scope rows."""
    from handoff_server.ai.retrieval import training_examples

    name = "tfidf" if engine == "default" else engine
    n = len(training_examples(kb)[0])
    return _FIXED_SECONDS.get(name, 4.0) + _SECONDS_PER_EXAMPLE.get(name, 0.01) * n


def log_build_start(
    kb: KnowledgeBase, engine: str, cache_file: Path | None, url: str | None = None
) -> None:
    """Log what the server is about to do: load the cached index, or build one (with the
    estimate); first, given the server's ``url``, that it is bound and not ready until
    then (saying "loaded" or "built" after looking for ``cache_file``)."""
    cached = cache_file is not None and cache_file.exists()
    if url is not None:
        log.info(
            "bound %s; not ready until the index is %s (/readyz)",
            url,
            "loaded" if cached else "built",
        )
    if cached:
        log.info("loading the cached %s index (%s); not ready until loaded", engine, cache_file)
        return
    entries = sum(1 for e in kb.entries if not e.out_of_scope)
    log.info(
        "building the %s index for %d KB entries: about %.0f s on a 2-core machine (longer "
        "when busy), first start only, it is cached; /readyz answers 503 until then",
        engine,
        entries,
        build_estimate(kb, engine),
    )


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """Run ``work()`` in a daemon thread and await its result (or its exception).
    Cancelling the await leaves the thread to finish or die with the process."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: object) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)  # type: ignore[arg-type]
        else:
            future.set_exception(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result: object = work()
            ok = True
        except BaseException as exc:
            result, ok = exc, False
        try:
            loop.call_soon_threadsafe(settle, ok, result)
        except RuntimeError:  # the loop closed: nobody waits any more
            pass

    threading.Thread(target=run, name="index-build", daemon=True).start()
    return await future
