import os
import signal
import tempfile
from pathlib import Path

# Fixture modules, registered here rather than imported into each test module:
# tests/httpserver.py: a real local HTTP server (`http_server`, `make_http_server` fixtures).
# tests/prefect_harness.py: one temporary Prefect server per session (`prefect_harness`).
# tests/prefect_server.py: one real `prefect server start`, services on, per session (`prefect_server`).
# tests/smtpserver.py: a real local SMTP server (`smtp_server`).
# tests/hostile_server.py: raw-socket hostile answers (`make_hostile_server`).
pytest_plugins = ["httpserver", "prefect_harness", "prefect_server", "smtpserver", "hostile_server"]

# Prefect must never phone home nor touch the user's ~/.prefect during tests.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="newswatch-prefect-home-"))

ROOT = Path(__file__).resolve().parent.parent

# A pytest started in the background by a non-interactive shell (`make test &`, some CI
# runners) inherits SIGINT ignored, and so would every command the tests start: the tests of
# Ctrl-C would then see nothing happen. Python's own handler here gives the children SIGINT's
# default action again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# Property tests explore new inputs on a developer's machine, but CI replays a fixed sequence,
# so a CI failure can be reproduced (`HYPOTHESIS_PROFILE=ci pytest ...`).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
    _hypothesis_settings.load_profile("ci")
