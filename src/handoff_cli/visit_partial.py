"""The AI's answer while it is written (``ai_partial`` frames), for ``handoff visit``.

A printed line cannot be taken back, and partial text is provisional (the answer may be
withdrawn), so on a terminal the text so far is drawn on one status line on stderr,
redrawn in place (carriage return, erase line) and erased when the frame with
``done`` arrives, before the stored answer is printed. Off a terminal nothing is
drawn: only the final answer is printed (``--json`` prints every frame as it is).
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from handoff_cli.output import one_line
from handoff_server.protocol import SAiPartial

__all__ = ["PartialLine"]

_ERASE = "\r\x1b[2K"


class PartialLine:
    """One status line showing the end of the AI's text so far. ``stream``: where to
    draw (stderr); nothing is drawn unless it is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.shown = False

    def show(self, frame: SAiPartial) -> None:
        """Draw ``frame``'s text (its tail, on one line), or erase it when done."""
        if frame.done or not frame.text:
            self.clear()
            return
        if not self.stream.isatty():
            return
        width = max(20, shutil.get_terminal_size().columns - 1)
        label = "AI (writing…): "
        text = one_line(frame.text.replace("\n", " "))
        room = width - len(label)
        tail = text if len(text) <= room else "…" + text[-(room - 1) :]
        self.stream.write(_ERASE + label + tail)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the status line, if drawn (before anything else is printed)."""
        if self.shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.shown = False
