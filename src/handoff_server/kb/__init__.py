"""Knowledge base: loading, validating and indexing.

Public surface: :func:`load_kb` (raises :class:`KBError`, code ``bad_kb``, listing every
problem with ``file:line``), :func:`check_kb` (every problem, errors and warnings),
:func:`write_kb_folder` (labeled CSV → folder of Markdown entries, written atomically).
"""

from handoff_server.kb.loader import (
    OOS_LABEL,
    Problem,
    check_kb,
    demo_kb_path,
    load_kb,
    read_kb,
)
from handoff_server.kb.models import KBEntry, KnowledgeBase
from handoff_server.kb.writer import write_kb_folder

__all__ = [
    "OOS_LABEL",
    "KBEntry",
    "KnowledgeBase",
    "Problem",
    "check_kb",
    "demo_kb_path",
    "load_kb",
    "read_kb",
    "write_kb_folder",
]
