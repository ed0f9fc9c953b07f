"""New KB entries from the operator's screens (``kb_entry_create``).

The entry's file is made as it will be written and read back with the loader the server
starts with (:func:`~handoff_server.kb.entry_file.entry_file`): a file that would not
load, or would load changed, is refused (``invalid_frame``, naming the field) and never
written, so the server can always start again on its KB. The entry is checked against
the KB (a new id; no example question already under another entry), the answerer for the KB with it is built in a worker thread while conversations
go on with the old one, then the entry's Markdown file is written (to a temporary file,
renamed into place) and the new answerer replaces the old in one assignment: a turn uses
the old index or the new, never a half-built one. Then, in ``handoff serve``, the heap is
frozen again (:func:`~handoff_server.heap.refreeze`), the new index with it, so full GC
collections stay as short as after start-up. A failure before the rename writes
nothing. Where the file goes: :func:`~handoff_server.kb.served.entries_folder`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from handoff_server import heap
from handoff_server.ai.courtesy_layer import with_courtesy
from handoff_server.answering import configured_answerer
from handoff_server.config import Settings
from handoff_server.conversations import ConversationService
from handoff_server.errors import Conflict, InvalidState, KBError, ProtocolError
from handoff_server.hub import Subscriber
from handoff_server.kb.entry_file import entry_file
from handoff_server.kb.loader import check_entries
from handoff_server.kb.models import KBEntry, KnowledgeBase
from handoff_server.kb.served import entries_folder, load_served_kb
from handoff_server.protocol import AgentInfo
from handoff_server.protocol_operator import KbEntryDraft, OKbEntryCreate, SKbEntryCreated

__all__ = ["KbDesk"]

log = logging.getLogger(__name__)


class KbDesk:
    """Writes operators' new KB entries and swaps in the reindexed answerer of
    ``service``; the KB, engine and data dir come from ``settings``."""

    def __init__(self, service: ConversationService, settings: Settings) -> None:
        self._service = service
        self._settings = settings
        self._lock = asyncio.Lock()

    async def create(
        self, frame: OKbEntryCreate, agent: AgentInfo, sub: Subscriber
    ) -> SKbEntryCreated:
        """Write ``frame.entry`` and reindex; answered once the new index is in use.
        Raises :class:`Conflict` for an id the KB has (unless it is this very entry,
        already written: a retried frame), :class:`ProtocolError` (``invalid_frame``)
        when the entry clashes with the KB (an example question of another entry) or
        its file would not read back as sent (the detail names the field),
        :class:`InvalidState` when the KB on disk has errors."""
        ai = self._settings.ai
        folder = entries_folder(ai.kb, self._settings.store.data_dir)
        entry = _entry(frame.entry, folder)
        path = folder / f"{entry.id}.md"
        try:
            raw = entry_file(entry, path)
        except KBError as exc:
            raise ProtocolError(exc.detail, code="invalid_frame") from None
        async with self._lock:
            try:
                kb = await asyncio.to_thread(load_served_kb, ai.kb, self._settings.store.data_dir)
            except KBError as exc:
                raise InvalidState(f"the KB on disk cannot be read: {exc.detail}") from None
            if entry.id in kb.by_id():
                if path.is_file() and path.read_bytes() == raw:
                    return _created(frame, entry, kb)
                raise Conflict(f"the KB already has an entry {entry.id!r}")
            grown, problems = check_entries(KnowledgeBase(entries=[*kb.entries, entry]))
            errors = [p.message for p in problems if p.severity == "error"]
            if errors:
                raise ProtocolError("; ".join(errors), code="invalid_frame")
            answerer = await asyncio.to_thread(configured_answerer, grown, self._settings)
            await asyncio.to_thread(_write, path, raw)
            self._service.answerer = with_courtesy(answerer)
            frozen = heap.refreeze()
        if frozen:
            log.debug("reindexed: %d objects moved out of the cyclic GC's reach", frozen)
        return _created(frame, entry, grown)


def _entry(draft: KbEntryDraft, folder: Path) -> KBEntry:
    """The entry ``draft`` asks for, as its file will hold it: title, questions and
    answer stripped, the answer's ``\\r\\n`` and ``\\r`` as ``\\n``."""
    answer = draft.answer.replace("\r\n", "\n").replace("\r", "\n")
    try:
        return KBEntry(
            id=draft.id,
            title=draft.title.strip(),
            questions=[q.strip() for q in draft.questions],
            answer=answer.strip(),
            team=draft.team,
            source=f"{folder / (draft.id + '.md')}:1",
        )
    except ValueError as exc:
        raise ProtocolError(f"entry: {exc}", code="invalid_frame") from None


def _write(path: Path, raw: bytes) -> None:
    """Write ``raw`` to ``path`` whole: a temporary sibling, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _created(frame: OKbEntryCreate, entry: KBEntry, kb: KnowledgeBase) -> SKbEntryCreated:
    return SKbEntryCreated(
        request_id=frame.request_id,
        client_msg_id=frame.client_msg_id,
        entry_id=entry.id,
        path=f"{entry.id}.md",
        entries=sum(1 for e in kb.entries if not e.out_of_scope),
    )
