"""Settings: every environment variable the function reads, validated once, in one typed place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Generic, NamedTuple, TypeVar
from urllib.parse import urlsplit

from luma_download.errors import ConfigurationError
from luma_download.url_rules import is_fully_qualified, is_loopback_host

N = TypeVar("N", int, float)

DEFAULT_ALLOWED_REDIRECT_HOSTS = "*.r2.cloudflarestorage.com,*.cdn-luma.com,*.lumalabs.ai"
DEFAULT_ARCHIVE_PREFIX = "luma/"
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
# S3's "safe" key characters: the prefix also goes into IAM resource ARNs.
_KEY_PREFIX = re.compile(r"(?:[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]{0,255})?", re.ASCII)
# A DNS host name of two labels or more (d111111abcdef8.cloudfront.net, or a CNAME of the deployer's).
_HOST_NAME = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z0-9]", re.ASCII
)
# A CloudFront public key's id (K...), or a legacy key pair's (APKA...): the Key-Pair-Id of a signed URL.
_CDN_KEY_ID = re.compile(r"[A-Z0-9]{1,64}", re.ASCII)
# An EventBridge bus: its name (the template's AllowedPattern), or its ARN (another account's bus).
_EVENT_BUS = re.compile(
    r"(?:arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[/.A-Za-z0-9_-]{1,256}", re.ASCII
)


class Settings(NamedTuple):
    """What ``load_settings`` read; the defaults and bounds live with the readers (``NumberRule``s)."""

    upstream_base_url: str
    token_secret_id: str
    token_secret_field: str
    token_cache_seconds: int
    allowed_redirect_hosts: tuple[str, ...]
    upstream_connect_timeout: float
    upstream_read_timeout: float
    url_cache_margin_seconds: int
    url_cache_max_entries: int
    # Local runs: the aggregator simulator and the embedded S3 live on loopback.
    upstream_is_loopback: bool
    # Permanent links: an empty bucket turns archiving off.
    archive_bucket: str
    archive_prefix: str
    archive_queue_url: str
    archive_link_seconds: int
    archive_recheck_seconds: int
    archive_max_bytes: int
    # The worker: a job's last receive (the queue's maxReceiveCount), and where its events go.
    archive_max_receives: int
    event_bus_name: str  # empty: no events
    # CloudFront delivery: an empty domain hands out presigned S3 links.
    archive_cdn_domain: str
    archive_cdn_key_id: str
    archive_cdn_key_secret_id: str

    @property
    def archive_on(self) -> bool:
        return bool(self.archive_bucket)

    @property
    def archive_cdn_on(self) -> bool:
        return bool(self.archive_cdn_domain)


class NumberRule(Generic[N]):
    """A numeric variable's default and bounds; the template's parameter bounds are checked against these.

    Plain classes here: a slotted frozen dataclass costs about 1 ms of every cold start.
    """

    __slots__ = ("default", "high", "low", "name")

    def __init__(self, name: str, default: N, low: N, high: N) -> None:
        self.name = name
        self.default: N = default
        self.low: N = low
        self.high: N = high

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
# SigV4 presigned links live at most 7 days.
ARCHIVE_LINK_SECONDS = NumberRule("ARCHIVE_LINK_SECONDS", 3600, 60, 604_800)
ARCHIVE_RECHECK_SECONDS = NumberRule("ARCHIVE_RECHECK_SECONDS", 60, 0, 86_400)
# A stream of unknown size goes up in 8 MiB parts, at most 10,000 of them: under 80 GiB.
ARCHIVE_MAX_BYTES = NumberRule("ARCHIVE_MAX_BYTES", 2 * 1024**3, 1, 64 * 1024**3)
# SQS's bounds for a redrive policy's maxReceiveCount.
ARCHIVE_MAX_RECEIVES = NumberRule("ARCHIVE_MAX_RECEIVES", 3, 1, 1000)
NUMBER_RULES: tuple[NumberRule[int] | NumberRule[float], ...] = (
    TOKEN_CACHE_SECONDS,
    UPSTREAM_CONNECT_TIMEOUT,
    UPSTREAM_READ_TIMEOUT,
    URL_CACHE_MARGIN_SECONDS,
    URL_CACHE_MAX_ENTRIES,
    ARCHIVE_LINK_SECONDS,
    ARCHIVE_RECHECK_SECONDS,
    ARCHIVE_MAX_BYTES,
    ARCHIVE_MAX_RECEIVES,
)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate the settings; raise ``ConfigurationError`` naming the bad variable."""
    base_url = _base_url(_required(environ, "UPSTREAM_BASE_URL"))
    bucket = _archive_bucket(environ)
    cdn_domain, cdn_key_id, cdn_key_secret_id = _archive_cdn(environ, bucket)
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
        archive_bucket=bucket,
        archive_prefix=_archive_prefix(environ),
        archive_queue_url=_archive_queue_url(environ, bucket),
        archive_link_seconds=ARCHIVE_LINK_SECONDS.read(environ),
        archive_recheck_seconds=ARCHIVE_RECHECK_SECONDS.read(environ),
        archive_max_bytes=ARCHIVE_MAX_BYTES.read(environ),
        archive_max_receives=ARCHIVE_MAX_RECEIVES.read(environ),
        event_bus_name=_event_bus_name(environ),
        archive_cdn_domain=cdn_domain,
        archive_cdn_key_id=cdn_key_id,
        archive_cdn_key_secret_id=cdn_key_secret_id,
    )


def _archive_bucket(environ: Mapping[str, str]) -> str:
    bucket = environ.get("ARCHIVE_BUCKET", "").strip()
    if bucket and _BUCKET_NAME.fullmatch(bucket) is None:
        raise ConfigurationError(f"ARCHIVE_BUCKET is not an S3 bucket name: {bucket!r}")
    return bucket


def _archive_prefix(environ: Mapping[str, str]) -> str:
    prefix = environ.get("ARCHIVE_PREFIX", DEFAULT_ARCHIVE_PREFIX).strip()
    if _KEY_PREFIX.fullmatch(prefix) is None:
        raise ConfigurationError(
            "ARCHIVE_PREFIX must be up to 256 of A-Z a-z 0-9 ! _ . * ' ( ) - /, not starting with /"
        )
    return prefix


def _archive_queue_url(environ: Mapping[str, str], bucket: str) -> str:
    queue_url = environ.get("ARCHIVE_QUEUE_URL", "").strip()
    if not queue_url:
        return ""
    if not bucket:
        raise ConfigurationError("ARCHIVE_QUEUE_URL is set but ARCHIVE_BUCKET is empty: set both, or neither")
    parts = urlsplit(queue_url)
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))
    if not secure or not host or parts.username or parts.password:
        raise ConfigurationError("ARCHIVE_QUEUE_URL must be an https SQS queue URL")
    return queue_url


def _archive_cdn(environ: Mapping[str, str], bucket: str) -> tuple[str, str, str]:
    """The distribution's domain, the public key's id and the private key's secret; all three or no domain."""
    domain = environ.get("ARCHIVE_CDN_DOMAIN", "").strip().lower()
    key_id = environ.get("ARCHIVE_CDN_KEY_ID", "").strip()
    secret_id = environ.get("ARCHIVE_CDN_KEY_SECRET_ID", "").strip()
    if not domain:
        return "", key_id, secret_id
    if _HOST_NAME.fullmatch(domain) is None and not _is_loopback_authority(domain):
        raise ConfigurationError(
            f"ARCHIVE_CDN_DOMAIN must be a host name (no scheme or path), got {domain!r}"
        )
    if not bucket:
        raise ConfigurationError(
            "ARCHIVE_CDN_DOMAIN is set but ARCHIVE_BUCKET is empty: set both, or neither"
        )
    if _CDN_KEY_ID.fullmatch(key_id) is None:
        raise ConfigurationError("ARCHIVE_CDN_DOMAIN is set: ARCHIVE_CDN_KEY_ID must be its public key's id")
    if not secret_id:
        raise ConfigurationError(
            "ARCHIVE_CDN_DOMAIN is set: ARCHIVE_CDN_KEY_SECRET_ID must name the private key's secret"
        )
    return domain, key_id, secret_id


def _is_loopback_authority(authority: str) -> bool:
    """``host[:port]`` on a loopback host: a local run's stand-in for the distribution."""
    parts = urlsplit(f"//{authority}")
    try:
        parts.port  # noqa: B018 (parsing it checks it)
    except ValueError:
        return False
    return parts.netloc == authority and "@" not in authority and is_loopback_host(parts.hostname or "")


def _event_bus_name(environ: Mapping[str, str]) -> str:
    bus = environ.get("EVENT_BUS_NAME", "").strip()
    if bus and _EVENT_BUS.fullmatch(bus) is None:
        raise ConfigurationError(f"EVENT_BUS_NAME is not an EventBridge bus name or ARN: {bus!r}")
    return bus


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
        if is_fully_qualified(bare):  # links so written are refused: the entry would match nothing
            raise ConfigurationError(f"ALLOWED_REDIRECT_HOSTS has an entry ending with a dot: {pattern!r}")
    if not patterns:
        raise ConfigurationError("ALLOWED_REDIRECT_HOSTS is empty")
    return patterns
