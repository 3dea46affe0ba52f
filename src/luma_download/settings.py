"""Settings: every environment variable the function reads, validated once, in one typed place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar
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


@dataclass(frozen=True, slots=True)
class NumberRule(Generic[N]):
    """A numeric variable's default and bounds; the template's parameter bounds are checked against these."""

    name: str
    default: N
    low: N
    high: N

    def read(self, environ: Mapping[str, str]) -> N:
        raw = environ.get(self.name, "").strip()
        if not raw:
            return self.default
        kind = type(self.default)
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigurationError(f"{self.name} must be a {kind.__name__}, got {raw!r}") from None
        if not self.low <= value <= self.high:
            raise ConfigurationError(f"{self.name} must be between {self.low} and {self.high}, got {raw!r}")
        return value


TOKEN_CACHE_SECONDS = NumberRule("TOKEN_CACHE_SECONDS", 300, 0, 86_400)
UPSTREAM_CONNECT_TIMEOUT = NumberRule("UPSTREAM_CONNECT_TIMEOUT", 2.0, 0.1, 30.0)
UPSTREAM_READ_TIMEOUT = NumberRule("UPSTREAM_READ_TIMEOUT", 5.0, 0.1, 60.0)
URL_CACHE_MARGIN_SECONDS = NumberRule("URL_CACHE_MARGIN_SECONDS", 300, 0, 86_400)
URL_CACHE_MAX_ENTRIES = NumberRule("URL_CACHE_MAX_ENTRIES", 1024, 0, 1_000_000)
NUMBER_RULES: tuple[NumberRule[int] | NumberRule[float], ...] = (
    TOKEN_CACHE_SECONDS,
    UPSTREAM_CONNECT_TIMEOUT,
    UPSTREAM_READ_TIMEOUT,
    URL_CACHE_MARGIN_SECONDS,
    URL_CACHE_MAX_ENTRIES,
)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate the settings; raise ``ConfigurationError`` naming the bad variable."""
    base_url = _base_url(_required(environ, "UPSTREAM_BASE_URL"))
    return Settings(
        upstream_base_url=base_url,
        upstream_is_loopback=is_loopback_host(urlsplit(base_url).hostname or ""),
        token_secret_id=_required(environ, "TOKEN_SECRET_ID"),
        token_secret_field=environ.get("TOKEN_SECRET_FIELD", "").strip() or "token",
        token_cache_seconds=TOKEN_CACHE_SECONDS.read(environ),
        allowed_redirect_hosts=_host_patterns(
            environ.get("ALLOWED_REDIRECT_HOSTS", DEFAULT_ALLOWED_REDIRECT_HOSTS)
        ),
        upstream_connect_timeout=UPSTREAM_CONNECT_TIMEOUT.read(environ),
        upstream_read_timeout=UPSTREAM_READ_TIMEOUT.read(environ),
        url_cache_margin_seconds=URL_CACHE_MARGIN_SECONDS.read(environ),
        url_cache_max_entries=URL_CACHE_MAX_ENTRIES.read(environ),
    )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
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
