"""The direct-invoke contract's archive flag."""

from __future__ import annotations

import pytest

from luma_download.errors import ArchiveDisabledError, InvalidRequestError
from luma_download.front_doors.direct_invoke import archiver_for, invoke
from luma_download.model import CopyOutcome, Deadline, LinkOutcome
from luma_download.request_record import RequestRecord


def archive(task_id: str, deadline: Deadline) -> CopyOutcome:
    raise AssertionError("not called here")


def test_archive_is_asked_for_with_true_only() -> None:
    assert archiver_for({"task_id": "a", "archive": True}, archive) is archive
    assert archiver_for({"task_id": "a", "archive": False}, archive) is None
    assert archiver_for({"task_id": "a"}, archive) is None


@pytest.mark.parametrize("value", ["true", 1, None, {"now": True}])
def test_anything_but_a_boolean_is_an_invalid_request(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="archive"):
        archiver_for({"task_id": "a", "archive": value}, archive)


def test_asking_a_deployment_without_an_archive_is_a_typed_error() -> None:
    def never(task_id: str, deadline: Deadline) -> LinkOutcome:
        raise AssertionError("no link is looked up")

    with pytest.raises(ArchiveDisabledError) as raised:
        invoke({"task_id": "a", "archive": True}, never, Deadline(5), RequestRecord("direct"), None)
    assert raised.value.code == "archive_disabled"
