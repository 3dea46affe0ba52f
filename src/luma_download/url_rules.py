"""Rules for the URL we redirect to: what is allowed, when it expires, how it is logged."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from luma_download.errors import UpstreamError

MAX_URL_LENGTH = 4096
# Query parameters whose values say nothing secret; every other value is redacted in logs.
_SHOWN_QUERY_PARAMS = frozenset(
    {"x-amz-algorithm", "x-amz-date", "x-amz-expires", "x-amz-signedheaders", "expires"}
)
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's own ceiling
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]*", re.ASCII)
_IPV4_CHARACTERS = frozenset("0123456789.")  # an IPv6 address always has a ":"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if ":" not in host and not _IPV4_CHARACTERS.issuperset(host):
        return False  # a name, not an address: spare ipaddress its two failed parses (3 us)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_is_allowed(host: str, patterns: Iterable[str]) -> bool:
    """``*.example.com`` matches any subdomain of example.com (not example.com itself)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def check_video_url(url: object, allowed_hosts: Iterable[str], *, allow_loopback: bool) -> str:
    """Return ``url`` if it is safe to put in ``Location``; raise ``UpstreamError`` if not.

    Safe means: a string of visible ASCII only (no control characters, whitespace or CRLF that could
    split a header), https (plain http only to a loopback host), no credentials, and a host on the
    allowlist. Loopback hosts are allowed only when ``allow_loopback`` (the upstream itself is local).
    """
    if not isinstance(url, str) or not url:
        raise UpstreamError("upstream gave no video URL")
    if len(url) > MAX_URL_LENGTH:
        raise UpstreamError("upstream video URL is too long")
    if _VISIBLE_ASCII.fullmatch(url) is None or "\\" in url:
        raise UpstreamError("upstream video URL has control, whitespace or non-ASCII characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise UpstreamError("upstream video URL is malformed") from None
    if parts.username is not None or parts.password is not None:
        raise UpstreamError("upstream video URL carries credentials")
    loopback = is_loopback_host(host)
    if parts.scheme == "http" and loopback and allow_loopback:
        return url
    if parts.scheme != "https":
        raise UpstreamError("upstream video URL is not https")
    if (loopback and allow_loopback) or host_is_allowed(host, allowed_hosts):
        return url
    raise UpstreamError("upstream video URL points to a host that is not allowed")


def expiry_of(url: str) -> datetime | None:
    """When a presigned URL dies: ``X-Amz-Date`` + ``X-Amz-Expires`` (SigV4) or ``Expires`` (epoch)."""
    params = {key.lower(): value for key, value in parse_qsl(urlsplit(url).query)}
    try:
        if "x-amz-date" in params and "x-amz-expires" in params:
            signed_at = datetime.strptime(params["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            seconds = int(params["x-amz-expires"])
            if 0 < seconds <= _MAX_PRESIGN_SECONDS:
                return signed_at + timedelta(seconds=seconds)
        elif "expires" in params:
            return datetime.fromtimestamp(int(params["expires"]), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def redact_url(url: str) -> str:
    """The URL for logs: path kept, signatures, credentials and tokens replaced."""
    try:
        parts = urlsplit(url)
        query = [
            (key, value if key.lower() in _SHOWN_QUERY_PARAMS else "REDACTED")
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=":/"), ""))
    except ValueError:
        return "<unparseable URL>"
