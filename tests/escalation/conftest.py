"""Escalation: triggers, rules, policies and `handoff triage`'s decisions.

Every test collected below this folder is marked ``escalation``: ``pytest -m escalation`` runs this
part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mark_part


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests ``escalation``."""
    mark_part(items, Path(__file__).parent, "escalation")
