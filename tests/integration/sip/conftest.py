"""sipp-based tests: marked ``sip``, skipped when sipp is not installed."""

from __future__ import annotations

import pytest

from tests.integration.sip.support import SIPP


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/sip" in str(item.fspath):
            item.add_marker(pytest.mark.sip)


@pytest.fixture(autouse=True)
def _need_sipp() -> None:
    if SIPP is None:
        pytest.skip("sipp is not installed (apt-get install sip-tester)")
