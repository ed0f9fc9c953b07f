"""The server: real servers on ephemeral ports and real websocket clients.

Every test collected below this folder is marked ``server``: ``pytest -m server`` runs this
part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests (the hook sees every item; it marks only those under here)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.server)
