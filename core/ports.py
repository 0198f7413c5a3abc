"""A TCP port on 127.0.0.1: one free now (`free_port`), or whether a given one is (`port_is_free`).

Every local server newswatch starts (the demo's, the tests', `newswatch serve`'s Prefect
server, the benches') asks here. A port free now can be taken by another process before it
is bound: callers that can bind port 0 themselves should.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (also: a closed port, for "the server is down")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
