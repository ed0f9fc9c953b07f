"""The built answerer index, cached on disk so a restart loads it instead of training.

One file per index under a cache folder (the server's: ``DATA_DIR/cache``), named by the
engine and :func:`~handoff_server.ai.factory.index_key` (a SHA-256 of the KB's entries,
the engine, the index code's ``INDEX_VERSION`` and the scikit-learn version): editing
the KB, changing the engine or upgrading the code picks another file, so a stale index
is never loaded. Files are written atomically (a temporary file, then ``os.replace``)
with mode ``0600``.

A cache that cannot be read (truncated, foreign) is rebuilt; one that cannot be written
(a full or read-only disk) is logged and skipped: the cache only saves time, so it never
stops a server from starting. Used by :func:`~handoff_server.ai.factory.load_or_build_index`
(the server, ``handoff kb build``) and by anything that wants the same index without
building it (``handoff demo``'s prebuilt index).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handoff_server.ai.retrieval import Index

__all__ = ["IndexCache"]

log = logging.getLogger(__name__)


class IndexCache:
    """Indexes cached in ``folder`` (created on the first save, mode ``0700``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, engine: str, key: str) -> Path:
        """The file of the index for canonical ``engine`` and ``key`` (hex digest)."""
        return self.folder / f"index-{engine}-{key[:24]}.joblib"

    def load(self, engine: str, key: str) -> Index | None:
        """The cached index, or ``None`` when there is none or it cannot be read."""
        import joblib

        from handoff_server.ai.retrieval import Index

        path = self.path(engine, key)
        if not path.exists():
            return None
        try:
            index = joblib.load(path)
        except Exception as exc:  # a truncated or foreign file: rebuild it
            log.warning("ignoring unreadable index cache %s: %s", path, exc)
            return None
        return index if isinstance(index, Index) else None

    def save(self, engine: str, key: str, index: Index) -> bool:
        """Write ``index`` atomically; ``False`` (logged) when the disk refuses."""
        import joblib

        path = self.path(engine, key)
        tmp = None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".index-", dir=self.folder)
            os.close(fd)
            joblib.dump(index, tmp)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            log.warning("cannot cache the index in %s (%s); going on without", self.folder, exc)
            return False
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        return True
