"""What a SIGTERM or Ctrl-C does to an ingest run: its work in hand stops at once.

A signal is handled in the main thread only, while the run's work happens in other threads
(Prefect's task threads, the stages, the fetch pool), blocked in reads, connects and polite
waits. Prefect's own SIGTERM handler raises in the main thread, but before the process may
die its task runner waits for those threads, and a fetch from a slow server holds it for as
long as the server likes (timeouts.read, timeouts.total): a `newswatch run` stopped by a
supervisor then outlived the stop by minutes, and its temporary Prefect server with it.

`stop_work_on_signals()` puts a handler on top of the one in place (Prefect's during a flow
run, Python's otherwise) that first stops the process's network work
(`scrapers.transport.stop_work`: every read, connect and wait raises
`errors.ProcessStopping` within half a second), then hands the signal to the handler before
it: Prefect marks the run Crashed, Python raises KeyboardInterrupt, a default handler ends
the process. The interrupted fetches are no outcome: no page is recorded as failed, no
source as erroring; the archive keeps what was committed, as after a kill, and the next run
asks again.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from scrapers import transport

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_work_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT stop the network work of the process, then go
    on to the handler that was in place. Outside the main thread (where no signal is
    handled) it does nothing. A signal the process ignores stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}  # getsignal's

    def stop(signum: int, frame: FrameType | None) -> None:
        transport.stop_work()
        before = previous.get(signum, signal.SIG_DFL)
        if callable(before):
            before(signum, frame)  # Prefect's raises TerminationSignal, Python's KeyboardInterrupt
            return
        signal.signal(signum, signal.SIG_DFL)  # the default: the process ends by the signal
        os.kill(os.getpid(), signum)

    for signum in SIGNALS:
        handler = signal.getsignal(signum)
        if handler not in (signal.SIG_IGN, None):
            previous[signum] = handler
            signal.signal(signum, stop)
    try:
        yield
        # Only a block that ends normally resumes the work (a handler that let the run finish):
        # when the stop unwinds it, the run's threads are still stopping.
        transport.resume_work()
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is stop:
                signal.signal(number, handler)
