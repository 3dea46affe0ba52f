"""A blocking SDK call waited for only so long: the call runs on a thread of its own.

botocore's timeouts are fixed when a client is made and bound each attempt, not the call; a
request that must answer by its deadline waits here at most ``seconds`` and moves on. The call
itself ends by the SDK's own timeouts, its answer unused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import TypeVar

T = TypeVar("T")


def call_within(seconds: float, call: Callable[[], T], *, name: str) -> T:
    """``call()``'s result, or ``TimeoutError`` once ``seconds`` have passed (at once when none left)."""
    if seconds <= 0:
        raise TimeoutError(f"no time left for {name}")
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the waiting caller as is
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return future.result(timeout=seconds)
    except FutureTimeoutError:
        raise TimeoutError(f"{name} did not answer within {seconds:.1f} s") from None
