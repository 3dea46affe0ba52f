from __future__ import annotations

import pytest

from luma_download.errors import ConfigurationError
from luma_download.settings import load_settings

REQUIRED = {"UPSTREAM_BASE_URL": "https://api.example.com/", "TOKEN_SECRET_ID": "luma/token"}


def test_defaults() -> None:
    settings = load_settings(REQUIRED)

    assert settings.upstream_base_url == "https://api.example.com"  # trailing slash trimmed
    assert settings.token_secret_field == "token"
    assert settings.token_cache_seconds == 300
    assert settings.allowed_redirect_hosts == (
        "*.r2.cloudflarestorage.com",
        "*.cdn-luma.com",
        "*.lumalabs.ai",
    )
    assert settings.url_cache_margin_seconds == 300
    assert settings.url_cache_max_entries == 1024
    assert not settings.upstream_is_loopback


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "TOKEN_SECRET_FIELD": "api_key",
            "TOKEN_CACHE_SECONDS": "60",
            "ALLOWED_REDIRECT_HOSTS": " *.Example.com , videos.example.net ",
            "UPSTREAM_CONNECT_TIMEOUT": "1.5",
            "UPSTREAM_READ_TIMEOUT": "4",
            "URL_CACHE_MARGIN_SECONDS": "120",
            "URL_CACHE_MAX_ENTRIES": "0",
        }
    )

    assert settings.token_secret_field == "api_key"
    assert settings.token_cache_seconds == 60
    assert settings.allowed_redirect_hosts == ("*.example.com", "videos.example.net")
    assert settings.upstream_connect_timeout == 1.5
    assert settings.upstream_read_timeout == 4.0
    assert settings.url_cache_margin_seconds == 120
    assert settings.url_cache_max_entries == 0


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "http://localhost:3001/", "https://[::1]:9000"]
)
def test_plain_http_is_allowed_for_loopback_only(base_url: str) -> None:
    assert load_settings({**REQUIRED, "UPSTREAM_BASE_URL": base_url}).upstream_is_loopback


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"UPSTREAM_BASE_URL": ""}, "UPSTREAM_BASE_URL"),
        ({"TOKEN_SECRET_ID": "  "}, "TOKEN_SECRET_ID"),
        ({"UPSTREAM_BASE_URL": "http://api.example.com"}, "UPSTREAM_BASE_URL"),
        ({"UPSTREAM_BASE_URL": "api.example.com"}, "UPSTREAM_BASE_URL"),
        ({"UPSTREAM_BASE_URL": "https://user:pw@api.example.com"}, "UPSTREAM_BASE_URL"),
        ({"UPSTREAM_BASE_URL": "https://api.example.com/?k=v"}, "UPSTREAM_BASE_URL"),
        ({"TOKEN_CACHE_SECONDS": "five"}, "TOKEN_CACHE_SECONDS"),
        ({"TOKEN_CACHE_SECONDS": "-1"}, "TOKEN_CACHE_SECONDS"),
        ({"UPSTREAM_READ_TIMEOUT": "0"}, "UPSTREAM_READ_TIMEOUT"),
        ({"URL_CACHE_MAX_ENTRIES": "1.5"}, "URL_CACHE_MAX_ENTRIES"),
        ({"ALLOWED_REDIRECT_HOSTS": "*"}, "ALLOWED_REDIRECT_HOSTS"),
        ({"ALLOWED_REDIRECT_HOSTS": "*.com.*"}, "ALLOWED_REDIRECT_HOSTS"),
        ({"ALLOWED_REDIRECT_HOSTS": "https://x.example.com"}, "ALLOWED_REDIRECT_HOSTS"),
        ({"ALLOWED_REDIRECT_HOSTS": " , "}, "ALLOWED_REDIRECT_HOSTS"),
    ],
)
def test_bad_settings_name_the_variable(changes: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**REQUIRED, **changes})
    # The variable is named for the operator (detail); the caller's message names nothing internal.
    assert raised.value.detail is not None
    assert named in raised.value.detail
    assert named not in raised.value.message
    assert named not in str(raised.value)
