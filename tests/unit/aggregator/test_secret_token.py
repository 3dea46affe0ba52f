from __future__ import annotations

import pytest

from luma_download.aggregator.secret_token import TokenSource, token_from_secret
from luma_download.errors import ConfigurationError
from luma_download.model import Deadline
from tests.unit.conftest import Vault

SECRET_ID = "luma/aggregator-token"


def tokens(vault: Vault, max_age: int = 300) -> TokenSource:
    return TokenSource(vault, SECRET_ID, "token", max_age)


@pytest.mark.parametrize(
    ("raw", "field", "token"),
    [
        ("sk-abc123", "token", "sk-abc123"),
        ("  sk-abc123\n", "token", "sk-abc123"),
        ('{"token": "sk-abc123"}', "token", "sk-abc123"),
        ('{"api_key": "sk-abc123", "note": "x"}', "api_key", "sk-abc123"),
        (b"sk-abc123", "token", "sk-abc123"),
    ],
)
def test_the_token_is_the_value_or_a_json_field(raw: object, field: str, token: str) -> None:
    assert token_from_secret(raw, field) == token


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "sk-abc 123",
        "sk-abc\r\nX-Injected: 1",
        '{"token": ""}',
        '{"other": "sk-abc"}',
        '{"token": 42}',
        '{"token": "sk',
        b"\xff\xfe",
    ],
)
def test_unusable_secrets_are_configuration_errors(raw: object) -> None:
    with pytest.raises(ConfigurationError) as raised:
        token_from_secret(raw, "token")
    # the message names the problem, never the value
    assert "sk-abc" not in str(raised.value)


def test_the_token_is_read_once_while_fresh() -> None:
    vault = Vault('{"token": "sk-abc123"}')
    source = tokens(vault)

    assert [source.get(Deadline(5)) for _ in range(3)] == ["sk-abc123"] * 3
    assert vault.fetches == [SECRET_ID]


def test_a_refusal_forces_one_read_past_the_cache_per_interval() -> None:
    # Given a warm container holding the first token
    vault = Vault("sk-old")
    source = tokens(vault)
    assert source.get(Deadline(5)) == "sk-old"

    # When the aggregator refuses it after a rotation: the re-read goes past the cache
    vault.value = "sk-new"
    assert source.refresh(Deadline(5)) == "sk-new"
    assert source.get(Deadline(5)) == "sk-new"

    # Then a second refusal within the interval reuses that read: no second paid read
    vault.value = "sk-newer"
    assert source.refresh(Deadline(5)) == "sk-new"
    assert vault.fetches == [SECRET_ID, SECRET_ID]
    assert source.recent() == ("sk-old", "sk-new")


def test_recent_holds_the_last_four_tokens_newest_last() -> None:
    vault = Vault()
    source = tokens(vault, max_age=0)  # every get reads: each value below is seen
    for token in ("sk-a", "sk-b", "sk-c", "sk-d", "sk-e", "sk-b"):
        vault.value = token
        source.get(Deadline(5))

    assert source.recent() == ("sk-c", "sk-d", "sk-e", "sk-b")


def test_a_secret_error_names_the_token_secret() -> None:
    vault = Vault("sk-abc123")
    vault.fault = LookupError("no such secret")

    with pytest.raises(ConfigurationError) as raised:
        tokens(vault).get(Deadline(5))

    assert raised.value.detail == "token secret could not be read (LookupError)"
