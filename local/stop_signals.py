"""Ctrl-C and SIGTERM for ``make run``, taken by the main thread with ``sigwait``."""

from __future__ import annotations

import signal
import threading
from typing import Final


class StopSignals:
    """Ctrl-C and SIGTERM, taken by the main thread with ``sigwait`` instead of a signal handler.

    A Python signal handler runs on the main thread between two bytecodes, possibly while that thread
    holds a lock (inside ``threading.Event.wait``, or inside the previous signal's handler). Under a
    burst of signals, ``Event.set()`` in a handler deadlocked for good, nested handlers recursed, and
    signals landing after ``main`` returned killed the process (the interpreter restores the default
    handlers at exit). Here both signals are blocked before any thread starts (threads inherit the
    mask), so no handler ever runs: ``wait`` takes one signal from the pending set, and the ones that
    arrive later stay pending and vanish at exit. Child processes would inherit the mask as well;
    ``make run`` starts none.
    """

    SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})

    def __init__(self) -> None:
        if threading.active_count() > 1:
            raise RuntimeError("StopSignals must be set up before any thread starts")
        signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)

    def wait(self) -> signal.Signals:
        """Block until a stop signal is pending (return at once if one came in meanwhile)."""
        return signal.Signals(signal.sigwait(self.SIGNALS))
