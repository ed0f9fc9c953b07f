"""The CLI: commands run as a person runs them, against real servers.

Every test collected below this folder is marked ``cli``: ``pytest -m cli`` runs this
part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mark_part


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests ``cli``."""
    mark_part(items, Path(__file__).parent, "cli")
