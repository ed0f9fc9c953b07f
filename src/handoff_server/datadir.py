"""The data dir holds visitor data and token hashes: only its owner may read it.

:func:`private_dir` creates the data dir (and its parents) mode ``0700``;
:func:`private_db_file` creates the SQLite database file ``0600`` before SQLite opens it
(SQLite gives its ``-wal`` and ``-shm`` files the database file's mode), and tightens
an existing database and its ``-wal``/``-shm`` files to ``0600``. A data dir that
existed already keeps its mode (it may be shared on purpose); one readable by others is
reported once in the log.

:func:`explain_os_error` turns the ``OSError``/``sqlite3`` error of a data dir that
cannot be used into the real cause for the start-up error: read-only, full, missing
permission.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import stat
from pathlib import Path

__all__ = ["diagnose_data_dir", "explain_os_error", "private_db_file", "private_dir"]

log = logging.getLogger(__name__)

_WARNED: set[Path] = set()
"""Data dirs already reported as readable by others (once per process)."""
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) mode ``0700``; an existing folder keeps its
    mode, with a warning when others may read it. Raises ``OSError``."""
    if path.is_dir():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and path not in _WARNED:
            _WARNED.add(path)
            log.warning(
                "data dir %s is readable by other users (mode %o); chmod 700 it", path, mode
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=DIR_MODE)
    os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask


def private_db_file(db: Path) -> None:
    """Create the database file ``db`` empty with mode ``0600`` if missing, and set
    ``0600`` on it and on its ``-wal``, ``-shm`` and ``-journal`` files. Raises
    ``OSError``."""
    # Never open an existing database here: closing any descriptor of a file drops
    # every POSIX lock this process holds on it, SQLite's included.
    try:
        os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_RDWR, FILE_MODE))
    except FileExistsError:
        pass
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = db.with_name(db.name + suffix)
        try:
            if stat.S_IMODE(part.stat().st_mode) != FILE_MODE:
                os.chmod(part, FILE_MODE)
        except FileNotFoundError:
            continue


_FULL = (errno.ENOSPC, errno.EDQUOT)


def explain_os_error(exc: BaseException) -> str:
    """The cause of a data dir failure in words: ``"the disk is full"``, ``"the file
    system is read-only"``, ``"permission denied"``, else the error's own text."""
    if isinstance(exc, OSError):
        if exc.errno in _FULL:
            return "the disk is full (no space left on device)"
        if exc.errno == errno.EROFS:
            return "the file system is read-only"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"permission denied ({exc.filename or 'the data dir'})"
        return exc.strerror or str(exc)
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if "full" in text:
            return f"the disk is full ({text})"
        if "readonly" in text or "read-only" in text:
            return f"the data dir is read-only ({text})"
        return text
    return str(exc)


def diagnose_data_dir(path: Path) -> str | None:
    """Why the data dir ``path`` cannot be written, found by creating and deleting a
    small file in it (or in its nearest existing parent): the cause in words
    (:func:`explain_os_error`), or ``None`` when that works."""
    folder = path
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    probe = folder / f".handoff-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"x" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return explain_os_error(exc)
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None
