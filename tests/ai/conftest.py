"""The AI: KB loading, answerers, calibration and evaluation.

Every test collected below this folder is marked ``ai``: ``pytest -m ai`` runs this
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
            item.add_marker(pytest.mark.ai)
