"""A blocking SDK call waited for only so long: the call runs on a thread of its own.

botocore's timeouts are fixed when a client is made and bound each attempt, not the call; a
request that must answer by its deadline waits for the call's ``Future`` at most what it has left
and moves on. The call itself ends by the SDK's own timeouts, its answer unused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TypeVar

T = TypeVar("T")


def start(
    call: Callable[[], T], *, name: str, before_settling: Callable[[Future[T]], None] | None = None
) -> Future[T]:
    """``call()`` on a daemon thread named ``name``; its result or exception settles the future.

    ``before_settling(future)`` runs first, on that thread (so no waiter woken by the answer still
    finds the future where it was shared).
    """
    future: Future[T] = Future()

    def run() -> None:
        try:
            result = call()
        except BaseException as exc:  # handed to the waiting callers as is
            if before_settling is not None:
                before_settling(future)
            future.set_exception(exc)
        else:
            if before_settling is not None:
                before_settling(future)
            future.set_result(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def call_within(seconds: float, call: Callable[[], T], *, name: str) -> T:
    """``call()``'s result, or ``TimeoutError`` once ``seconds`` have passed (at once when none left)."""
    if seconds <= 0:
        raise TimeoutError(f"no time left for {name}")
    try:
        return start(call, name=name).result(timeout=seconds)
    except FutureTimeoutError:
        raise TimeoutError(f"{name} did not answer within {seconds:.1f} s") from None
