from __future__ import annotations

import pytest

from tests.unit.core.helpers import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()
