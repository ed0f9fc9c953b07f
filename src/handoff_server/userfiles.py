"""Reading a file a person names (a config, a policy, a KB file, a questions CSV, a
scenario): bounded, regular files only, a UTF-8 byte-order mark allowed.

``handoff policy import /dev/zero`` read until memory ran out, and a FIFO would block
for ever: only a regular file is read, and at most ``limit`` bytes of it. Editors on
Windows save UTF-8 with a byte-order mark (U+FEFF), which TOML, JSON and YAML parsers
take as a stray character ("not valid TOML"): it is dropped (``utf-8-sig``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["CONFIG_FILE_BYTES", "DATA_FILE_BYTES", "UnreadableFile", "read_user_text"]

CONFIG_FILE_BYTES = 4 * 1024 * 1024
"""The most a config, policy or scenario file may hold: 4 MiB (a large policy is ~100 KB)."""

DATA_FILE_BYTES = 64 * 1024 * 1024
"""The most a KB file or questions CSV may hold: 64 MiB."""


class UnreadableFile(OSError):
    """A file refused before it is read: not a regular file, or over its size limit.
    An ``OSError`` (``strerror`` says why), so callers' ``except OSError`` report it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(errno.EINVAL, reason, str(path))

    def __str__(self) -> str:
        return str(self.strerror)


def read_user_text(path: Path | str, limit: int) -> str:
    """The text of the regular file at ``path`` (UTF-8, a leading byte-order mark
    dropped), at most ``limit`` bytes. Raises :class:`UnreadableFile` for a device,
    FIFO, socket or folder, or a file over ``limit`` bytes; ``OSError`` when it cannot
    be opened or read; ``UnicodeDecodeError`` when it is not UTF-8."""
    p = Path(path)
    # O_NONBLOCK: opening a FIFO with no writer must not wait; no effect on a file.
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            raise UnreadableFile(p, f"not a regular file ({kind})")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(p, f"larger than {limit // (1024 * 1024)} MiB")
    return data.decode("utf-8-sig")
