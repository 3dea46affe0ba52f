from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from luma_download.off_thread import call_within, start


def test_the_answer_and_the_error_come_back_as_they_were() -> None:
    assert call_within(5, lambda: 42, name="answer") == 42

    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused("no")

    with pytest.raises(Refused):
        call_within(5, refuse, name="refusal")


def test_a_call_that_outlasts_the_wait_is_left_behind() -> None:
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError, match="stuck did not answer"):
            call_within(0.05, lambda: release.wait(5), name="stuck")
    finally:
        release.set()  # the thread left behind ends


def test_no_time_left_starts_nothing() -> None:
    called: list[bool] = []

    with pytest.raises(TimeoutError, match="no time left"):
        call_within(0, lambda: called.append(True), name="late")
    assert called == []


@pytest.mark.parametrize("fails", [False, True])
def test_before_settling_runs_before_anyone_sees_the_answer(fails: bool) -> None:
    seen: list[tuple[bool, str | None]] = []

    def work() -> int:
        if fails:
            raise ValueError("failed")
        return 1

    def before_settling(future: Future[int]) -> None:
        seen.append((future.done(), threading.current_thread().name))

    future = start(work, name="settler", before_settling=before_settling)

    if fails:
        assert isinstance(future.exception(timeout=5), ValueError)
    else:
        assert future.result(timeout=5) == 1
    assert seen == [(False, "settler")]
