"""One temporary Prefect server for the whole pytest session (`prefect_harness` fixture).

Starting it costs ~15 s, then each flow call ~1 s (../shared/notes/prefect.md): tests that
run real flows share this one. Registered in tests/conftest.py through `pytest_plugins`.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    # The default 30 s start-up timeout is tight on the shared 2-core machine under load.
    with prefect_test_harness(server_startup_timeout=120):
        yield
