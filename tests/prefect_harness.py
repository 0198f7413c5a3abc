"""One temporary Prefect server for the whole pytest session (`prefect_harness` fixture).

Starting it is slow, each flow call after it fast (docs/prefect.md, "Costs"): tests that
run real flows share this one. Registered in tests/conftest.py through `pytest_plugins`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    # The default start-up timeout is too tight on a loaded machine (docs/prefect.md).
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The session server's API address, for a `newswatch` command run in a subprocess: it
    records its flow runs there instead of starting a temporary server of its own."""
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url)
