"""Knowledge base data model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from handoff_server.protocol import TeamName


class KBEntry(BaseModel):
    """One knowledge-base entry.

    Markdown form (one file per entry)::

        ---
        id: dns-propagation
        title: Why my DNS change hasn't shown up yet
        category: dns
        team: support
        escalate: false          # optional; true = always hand to a human
        questions:
          - I changed my nameservers but the site still shows the old host
          - how long does dns take to update
        ---
        The answer, in Markdown.

    ``source`` is ``"path:line"`` of where the entry was defined, for error messages.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    title: str = Field(min_length=1)
    questions: list[str] = Field(default_factory=list)
    category: str = "general"
    team: TeamName | None = None
    """The team this entry's escalations go to (a name as everywhere: ``billing``)."""
    escalate: bool = False
    answer: str = ""
    source: str = ""
    out_of_scope: bool = False
    """True for the pseudo-entry holding out-of-scope examples (label ``oos``); never answered."""


class KnowledgeBase(BaseModel):
    """An ordered set of entries with unique ids."""

    entries: list[KBEntry]

    def by_id(self) -> dict[str, KBEntry]:
        """Map entry id → entry."""
        return {e.id: e for e in self.entries}
