"""Settings: every environment variable the function reads, validated once, in one typed place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from luma_download.errors import ConfigurationError
from luma_download.url_rules import is_loopback_host

N = TypeVar("N", int, float)

DEFAULT_ALLOWED_REDIRECT_HOSTS = "*.r2.cloudflarestorage.com,*.cdn-luma.com,*.lumalabs.ai"


@dataclass(frozen=True, slots=True)
class Settings:
    upstream_base_url: str
    token_secret_id: str
    token_secret_field: str = "token"  # noqa: S105 (a field name, not a secret)
    token_cache_seconds: int = 300
    allowed_redirect_hosts: tuple[str, ...] = tuple(DEFAULT_ALLOWED_REDIRECT_HOSTS.split(","))
    upstream_connect_timeout: float = 2.0
    upstream_read_timeout: float = 5.0
    url_cache_margin_seconds: int = 300
    url_cache_max_entries: int = 1024
    # Local runs: the aggregator simulator and the embedded S3 live on loopback.
    upstream_is_loopback: bool = False


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate the settings; raise ``ConfigurationError`` naming the bad variable."""
    base_url = _base_url(_required(environ, "UPSTREAM_BASE_URL"))
    return Settings(
        upstream_base_url=base_url,
        upstream_is_loopback=is_loopback_host(urlsplit(base_url).hostname or ""),
        token_secret_id=_required(environ, "TOKEN_SECRET_ID"),
        token_secret_field=environ.get("TOKEN_SECRET_FIELD", "").strip() or "token",
        token_cache_seconds=_number(environ, "TOKEN_CACHE_SECONDS", 300, int, low=0, high=86_400),
        allowed_redirect_hosts=_host_patterns(
            environ.get("ALLOWED_REDIRECT_HOSTS", DEFAULT_ALLOWED_REDIRECT_HOSTS)
        ),
        upstream_connect_timeout=_number(environ, "UPSTREAM_CONNECT_TIMEOUT", 2.0, float, low=0.1, high=30),
        upstream_read_timeout=_number(environ, "UPSTREAM_READ_TIMEOUT", 5.0, float, low=0.1, high=60),
        url_cache_margin_seconds=_number(environ, "URL_CACHE_MARGIN_SECONDS", 300, int, low=0, high=86_400),
        url_cache_max_entries=_number(environ, "URL_CACHE_MAX_ENTRIES", 1024, int, low=0, high=1_000_000),
    )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _number(environ: Mapping[str, str], name: str, default: N, kind: type[N], *, low: N, high: N) -> N:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError("UPSTREAM_BASE_URL must be an absolute https URL")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigurationError("UPSTREAM_BASE_URL must use https (plain http only for loopback hosts)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("UPSTREAM_BASE_URL must not carry credentials, a query or a fragment")
    return raw.rstrip("/")


def _host_patterns(raw: str) -> tuple[str, ...]:
    patterns = tuple(p.strip().lower() for p in raw.split(",") if p.strip())
    for pattern in patterns:
        bare = pattern.removeprefix("*.")
        if not bare or "*" in bare or "/" in bare or ":" in bare or ("." not in bare and bare != "localhost"):
            raise ConfigurationError(f"ALLOWED_REDIRECT_HOSTS has a bad entry: {pattern!r}")
    if not patterns:
        raise ConfigurationError("ALLOWED_REDIRECT_HOSTS is empty")
    return patterns
