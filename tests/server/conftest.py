"""The server: real servers on ephemeral ports and real websocket clients.

Every test collected below this folder is marked ``server``: ``pytest -m server`` runs this
part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mark_part


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests ``server``."""
    mark_part(items, Path(__file__).parent, "server")
