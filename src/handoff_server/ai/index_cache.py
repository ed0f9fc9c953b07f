"""The on-disk cache of built answerer indexes, keyed by what the index depends on.

``load_or_build(kb, engine, cache_dir, build)`` returns the object ``build()`` makes for
``kb`` and ``engine`` (the retrieval answerer's :class:`~handoff_server.ai.retrieval.Index`),
loading it from ``cache_dir`` when an earlier run saved it there. The key
(:func:`cache_key`) is a SHA-256 of the KB's entries, the engine, the package version,
:data:`~handoff_server.ai.factory.INDEX_VERSION` and the scikit-learn version, so an
edited KB, another engine or an upgrade never loads a stale index.

**Trust.** The files are joblib pickles, and unpickling runs code. They are only ever
files this process's user wrote itself: the cache directory is created (or tightened) to
mode 0700 and must be owned by the user running the server; a file is loaded only when
it is owned by that user and writable by nobody else. A directory owned by someone else
is not used at all (the index is built in memory, with a warning). Never point
``cache_dir`` at a folder other users can write to, and never copy index files in from
elsewhere: they are rebuilt, not imported.

Writes are atomic (a temporary file in the same directory, then ``os.replace``, mode
``0600``), so a crash leaves the old file or none; a file that fails to load (truncated,
foreign) is rebuilt. A cache that cannot be written (a full or read-only disk) is logged
("cannot cache the index ...") and skipped: the cache only saves time, so it never stops
a server from starting. Used by :func:`~handoff_server.ai.factory.load_or_build_index`
(the server, the operator's reindex, ``handoff kb build``, ``eval``, ``triage``) and by
anything that wants the same index without building it (``handoff demo``, whose data dir
is temporary, sets ``[ai] cache_dir`` to the folder ``handoff serve`` uses by default:
one index for both).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from handoff_server.kb.models import KnowledgeBase
from handoff_server.progress import NO_PROGRESS, ProgressSink

__all__ = ["cache_key", "cache_path", "load_or_build", "package_version"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def package_version() -> str:
    """The installed ``handoff`` distribution's version (``"unknown"`` when running from
    a source tree that was never installed)."""
    try:
        return metadata.version("handoff")
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_key(kb: KnowledgeBase, engine: str, *, extra: dict[str, Any] | None = None) -> str:
    """Hex SHA-256 of the KB's entries (id, title, questions, answer, out-of-scope flag),
    ``engine``, the package version and ``extra`` (the caller's format versions)."""
    payload = {
        "engine": engine,
        "package": package_version(),
        "extra": extra or {},
        "entries": [[e.id, e.title, e.questions, e.answer, e.out_of_scope] for e in kb.entries],
    }
    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


def cache_path(
    kb: KnowledgeBase, engine: str, cache_dir: Path, *, extra: dict[str, Any] | None = None
) -> Path:
    """Where the index of ``kb`` and ``engine`` is kept under ``cache_dir``."""
    return Path(cache_dir) / f"index-{engine}-{cache_key(kb, engine, extra=extra)[:24]}.joblib"


def _private_dir(cache_dir: Path) -> bool:
    """Create ``cache_dir`` (0700) or tighten it to 0700; ``False`` when it belongs to
    another user (then it is not used)."""
    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = cache_dir.stat()
        if st.st_uid != os.getuid():
            log.warning("not using index cache %s: owned by another user", cache_dir)
            return False
        if stat.S_IMODE(st.st_mode) != 0o700:
            cache_dir.chmod(0o700)
        return True
    except OSError as exc:  # a full or read-only disk: go on without the cache
        log.warning("cannot cache the index in %s (%s); going on without", cache_dir, exc)
        return False


def _ours(path: Path) -> bool:
    """``path`` is a regular file owned by this user and writable by no one else."""
    st = path.stat()
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_uid == os.getuid()
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _load(path: Path, expect: type[T]) -> T | None:
    import joblib

    try:
        if not _ours(path):
            log.warning("ignoring index cache %s: not written by this user", path)
            return None
        obj = joblib.load(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: rebuild it
        log.warning("ignoring unreadable index cache %s: %s", path, exc)
        return None
    return obj if isinstance(obj, expect) else None


def _save(obj: object, path: Path) -> None:
    import joblib

    fd, tmp = tempfile.mkstemp(prefix=".index-", dir=path.parent)
    os.close(fd)
    try:
        joblib.dump(obj, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_or_build(
    kb: KnowledgeBase,
    engine: str,
    cache_dir: Path | None,
    build: Callable[[], T],
    *,
    expect: type[T] | type[object] = object,
    extra: dict[str, Any] | None = None,
    progress: ProgressSink = NO_PROGRESS,
) -> T:
    """``build()``'s result for ``kb`` and ``engine``, from ``cache_dir`` when it holds one
    saved by this user (see the module docstring), else built and saved there.

    ``expect``: the type a loaded object must have (anything else is rebuilt).
    ``extra``: more key material (format versions). ``cache_dir=None`` builds in memory.
    ``progress`` is told about writing the file (``build`` reports its own steps).
    Raises what ``build`` raises; an unwritable cache (full or read-only disk) only logs
    a warning.
    """
    path = None
    if cache_dir is not None and _private_dir(Path(cache_dir)):
        path = cache_path(kb, engine, Path(cache_dir), extra=extra)
        hit = _load(path, expect)
        if hit is not None:
            return hit  # type: ignore[return-value]
    obj = build()
    if path is not None:
        progress.start("writing the index", None)
        try:
            _save(obj, path)
        except OSError as exc:  # a full or read-only disk: the cache only saves time
            log.warning("cannot cache the index in %s (%s); going on without", path.parent, exc)
    return obj
