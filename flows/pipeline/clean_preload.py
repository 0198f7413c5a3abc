"""Imported by the fork server of the pool's cleaning workers (`clean_worker.worker_context`):
importing it is the cleaner's imports and warm-up, done once in that server, and every worker
forked from it starts warm. Each spawned worker paid them itself: 0.45 s of a CPU, the
justext stop lists of every language included, while the pool came up."""

from __future__ import annotations

from flows.pipeline import clean_stage  # noqa: F401 - what a worker unpickles the run's cleaning function from
from flows.pipeline.clean_worker import warm_up
from scrapers.clean import clean_page

warm_up()
# A short page takes trafilatura's whole cascade (readability, justext and its stop lists), which
# the warm-up page does not.
clean_page(b"<html><body><div><p>A short warm-up page.</p></div></body></html>", url="http://warm-up.invalid/b")
