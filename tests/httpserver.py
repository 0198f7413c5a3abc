"""Pytest fixtures for the real HTTP server on 127.0.0.1 of `flows.demo.servers` (registered by
tests/conftest.py through `pytest_plugins`):
- `http_server`: one started server, stopped after the test;
- `make_http_server`: a factory for more (each one is a distinct host for politeness).

The server, its routes and replies are `flows.demo.servers`'s, the same the demo serves its site
with; they are imported here so tests write `from httpserver import LocalServer, Reply, html`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from flows.demo.servers import LocalServer, Reply, Request, Route, html, redirect  # noqa: F401 (re-exported)


@pytest.fixture
def make_http_server() -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def make(routes: dict[str, Route] | None = None) -> LocalServer:
        server = LocalServer(routes).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http_server(make_http_server: Callable[..., LocalServer]) -> LocalServer:
    return make_http_server()
