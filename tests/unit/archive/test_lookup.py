"""Presigned archive links never outlive the credentials that sign them; jobs have one shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import Credentials, RefreshableCredentials

from luma_download.archive.jobs import job_body, task_id_from_job
from luma_download.archive.store import link_seconds
from luma_download.errors import InvalidRequestError, InvalidTaskIdError

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def expiring_in(seconds: float) -> RefreshableCredentials:
    """Real botocore temporary credentials on a fixed clock; refreshing them yields the same ones."""
    expiry = NOW + timedelta(seconds=seconds)

    def same() -> dict[str, str]:
        return {"access_key": "AKIA", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    return RefreshableCredentials("AKIA", "s", "t", expiry, same, "test", time_fetcher=lambda: NOW)


def test_static_or_unknown_credentials_leave_the_configured_lifetime() -> None:
    assert link_seconds(3600, Credentials("AKIA", "s")) == 3600
    assert link_seconds(3600, None) == 3600


def test_credentials_that_outlive_the_link_leave_it_alone() -> None:
    assert link_seconds(3600, expiring_in(6 * 3600)) == 3600


@pytest.mark.parametrize("left", [1200, 1200.9, 3599, 700])
def test_credentials_expiring_first_cut_the_link_to_their_whole_seconds(left: float) -> None:
    assert link_seconds(3600, expiring_in(left)) == int(left)


def test_a_job_is_a_task_id_in_json() -> None:
    assert task_id_from_job(job_body("abc-123")) == "abc-123"
    assert task_id_from_job('{"task_id": "abc", "from": "a workflow"}') == "abc"


@pytest.mark.parametrize("body", ["not json", "[]", '{"id": "abc"}', None, '"abc"'])
def test_a_body_that_is_not_a_job_is_an_invalid_request(body: object) -> None:
    with pytest.raises(InvalidRequestError):
        task_id_from_job(body)


def test_a_job_with_a_bad_task_id_is_refused_by_the_id_rule() -> None:
    with pytest.raises(InvalidTaskIdError):
        task_id_from_job('{"task_id": "../etc/passwd"}')
