from __future__ import annotations

import pytest

from luma_download.aggregator.secret_token import token_from_secret
from luma_download.errors import ConfigurationError


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
