"""The AI: KB loading, answerers, calibration and evaluation.

Every test collected below this folder is marked ``ai``: ``pytest -m ai`` runs this
part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mark_part


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests ``ai``."""
    mark_part(items, Path(__file__).parent, "ai")
