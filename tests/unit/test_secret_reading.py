"""A secret read through Powertools: cached, one shared read waited for until the deadline, errors told apart.

The provider is ``Vault`` (tests/unit/conftest.py): Powertools' own ``get``, cache and error wrapping, with
the SDK's answers and errors played from memory. Secrets Manager itself: tests/integration/test_token.py,
tests/faults/test_secrets_faults.py, tests/integration/test_archive_cdn.py.
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from luma_download.errors import (
    ConfigurationError,
    LumaDownloadError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from luma_download.model import Deadline
from luma_download.secret_reading import SecretReader
from tests.unit.conftest import Vault

SECRET_ID = "luma/archive-cdn-key"
VALUE = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHcanary\n-----END PRIVATE KEY-----"
WHAT = "CloudFront key"


def reader(vault: Vault, max_age: int = 300, what: str = WHAT) -> SecretReader:
    return SecretReader(vault, SECRET_ID, max_age, what=what)


def aws_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"about {SECRET_ID}"}}, "GetSecretValue")


def shown(exc: LumaDownloadError) -> str:
    return f"{exc} {exc.message} {exc.detail} {exc.args!r}"


def test_a_fresh_value_is_answered_without_the_provider() -> None:
    # Given a value read once
    vault = Vault(VALUE)
    secret = reader(vault)
    first = secret.get(Deadline(5))

    # When it is asked for again, even after the provider's own cache has let it go
    vault.clear_cache()  # type: ignore[no-untyped-call]
    again = [secret.get(Deadline(5)) for _ in range(5)]

    # Then it is the same object, and Secrets Manager was asked once
    assert first == VALUE
    assert all(value is first for value in again)
    assert vault.fetches == [SECRET_ID]


def test_a_value_older_than_max_age_is_read_again() -> None:
    vault = Vault(VALUE)
    secret = reader(vault, max_age=0)

    for _ in range(3):
        assert secret.get(Deadline(5)) == VALUE

    assert vault.fetches == [SECRET_ID] * 3


def test_a_forced_read_fetches_past_both_caches() -> None:
    vault = Vault("first")
    secret = reader(vault)
    assert secret.get(Deadline(5)) == "first"

    vault.value = "second"
    assert secret.read(Deadline(5), force_fetch=True) == "second"
    # and the forced read is what is cached from then on
    assert secret.get(Deadline(5)) == "second"
    assert vault.fetches == [SECRET_ID, SECRET_ID]


def test_clear_forgets_the_value_as_a_new_container_would() -> None:
    vault = Vault(VALUE)
    secret = reader(vault)
    secret.get(Deadline(5))

    secret.clear()
    secret.get(Deadline(5))

    assert vault.fetches == [SECRET_ID, SECRET_ID]


def test_no_time_left_reads_nothing() -> None:
    vault = Vault(VALUE)

    with pytest.raises(UpstreamTimeoutError, match="out of time before reading the CloudFront key"):
        reader(vault).get(Deadline(0))
    assert vault.fetches == []


def test_a_caller_joins_the_read_in_flight_and_a_read_given_up_on_is_forgotten() -> None:
    # Given a read that Secrets Manager holds up, and a caller waiting for it
    vault = Vault(VALUE)
    vault.gate = threading.Event()
    secret = reader(vault, max_age=0)  # nothing cached: a caller that did not join would fetch again
    first: list[object] = []
    waiting = threading.Thread(target=lambda: first.append(secret.get(Deadline(5))))
    waiting.start()
    try:
        for _ in range(500):  # until the read is on its way (bounded: 5 s)
            if secret.in_flight() and vault.fetches:
                break
            vault.gate.wait(0.01)
        assert secret.in_flight()

        # When a second caller, with less time, asks meanwhile
        with pytest.raises(UpstreamTimeoutError) as raised:
            secret.get(Deadline(0.3))

        # Then it waited for the same read (one fetch), gave up at its deadline, naming the secret
        assert vault.fetches == [SECRET_ID]
        assert raised.value.detail == "GetSecretValue (CloudFront key): no answer"
        # and the read it gave up on is no longer shared: the next caller starts its own
        assert not secret.in_flight()
    finally:
        vault.gate.set()
        waiting.join(5)
    assert first == [VALUE]  # the first caller, with time left, got the held-up answer
    assert secret.get(Deadline(5)) == VALUE
    assert vault.fetches == [SECRET_ID, SECRET_ID]


@pytest.mark.parametrize(
    ("fault", "kind", "detail"),
    [
        (aws_error("ResourceNotFoundException"), ConfigurationError, "secret could not be read"),
        (aws_error("AccessDeniedException"), ConfigurationError, "secret could not be read"),
        (aws_error("DecryptionFailure"), ConfigurationError, "secret could not be read"),
        (aws_error("ThrottlingException"), UpstreamUnavailableError, "GetSecretValue ("),
        (aws_error("InternalServiceError"), UpstreamUnavailableError, "GetSecretValue ("),
        (EndpointConnectionError(endpoint_url="https://x"), UpstreamUnavailableError, "GetSecretValue ("),
        (ReadTimeoutError(endpoint_url="https://x"), UpstreamUnavailableError, "GetSecretValue ("),
    ],
)
@pytest.mark.parametrize("what", ["token", "CloudFront key"])
def test_errors_say_which_secret_and_what_happened_never_the_value(
    fault: Exception, kind: type[LumaDownloadError], detail: str, what: str
) -> None:
    vault = Vault(VALUE)
    vault.fault = fault

    with pytest.raises(kind) as raised:
        reader(vault, what=what).get(Deadline(5))

    text = shown(raised.value)
    assert what in (raised.value.detail or "")
    assert detail in (raised.value.detail or "")
    code = fault.response["Error"]["Code"] if isinstance(fault, ClientError) else type(fault).__name__
    assert code in text
    # no value, no secret id, and no chained SDK error that could carry either
    assert VALUE.splitlines()[1] not in text
    assert SECRET_ID not in text
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_a_passing_fault_is_not_cached() -> None:
    vault = Vault(VALUE)
    vault.fault = aws_error("ThrottlingException")
    secret = reader(vault)
    with pytest.raises(UpstreamUnavailableError):
        secret.get(Deadline(5))

    vault.fault = None
    assert secret.get(Deadline(5)) == VALUE
    assert vault.fetches == [SECRET_ID, SECRET_ID]
