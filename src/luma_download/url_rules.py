"""Rules for the URL we redirect to: what is allowed, when it expires, how it is logged."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, unquote_to_bytes, urlsplit, urlunsplit

from luma_download.errors import UpstreamError

MAX_URL_LENGTH = 4096
# Query parameters whose values say nothing secret; every other value is redacted in logs.
_SHOWN_QUERY_PARAMS = frozenset(
    {"x-amz-algorithm", "x-amz-date", "x-amz-expires", "x-amz-signedheaders", "expires"}
)
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's own ceiling
_MAX_PRESIGN = timedelta(seconds=_MAX_PRESIGN_SECONDS)
_IPV4_CHARACTERS = frozenset("0123456789.")  # an IPv6 address always has a ":"
# SigV4's basic ISO 8601 stamp, 20240707T160315Z (hours 00-23: no "24:00" for fromisoformat to roll over).
_AMZ_DATE = re.compile(r"[0-9]{8}T(?:[01][0-9]|2[0-3])[0-9]{4}Z", re.ASCII)
# A host name is letters, digits, dots and hyphens: nothing a consumer could decode into another host.
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", re.ASCII)


def is_visible_ascii(text: str) -> bool:
    """Only the characters 0x21 to 0x7e, except the backslash (some consumers read it as "/").

    Printable ASCII is 0x20 to 0x7e: without the space, that is the visible characters.
    """
    return text.isascii() and text.isprintable() and " " not in text and "\\" not in text


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
    return _checked(url, allowed_hosts, allow_loopback)[0]


def checked_link_facts(
    url: object, allowed_hosts: Iterable[str], *, allow_loopback: bool
) -> tuple[str, LinkFacts]:
    """``check_video_url``, then ``link_facts`` from the same parse: what every link fetched needs."""
    checked, parts, host, port = _checked(url, allowed_hosts, allow_loopback)
    return checked, _facts(parts, host, port, None)


def _checked(
    url: object, allowed_hosts: Iterable[str], allow_loopback: bool
) -> tuple[str, SplitResult, str, int | None]:
    if not isinstance(url, str) or not url:
        raise UpstreamError("upstream gave no video URL")
    if len(url) > MAX_URL_LENGTH:
        raise UpstreamError("upstream video URL is too long")
    if not is_visible_ascii(url):
        raise UpstreamError("upstream video URL has control, whitespace or non-ASCII characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise UpstreamError("upstream video URL is malformed") from None
    if "@" in parts.netloc:  # user, password, or both
        raise UpstreamError("upstream video URL carries credentials")
    named = _HOST_NAME.fullmatch(host) is not None
    if parts.scheme == "https" and named and host_is_allowed(host, allowed_hosts):
        return url, parts, host, port  # the usual answer, decided before the loopback rules
    # Past here the host is not an allowed name: only a local upstream's loopback host may pass.
    local = allow_loopback and is_loopback_host(host)
    if not named and not local:
        raise UpstreamError("upstream video URL has a malformed host")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local):
        raise UpstreamError("upstream video URL is not https")
    if local:
        return url, parts, host, port
    raise UpstreamError("upstream video URL points to a host that is not allowed")


def holds_secret(url: str, secrets: Iterable[str]) -> bool:
    """Whether ``url`` carries one of ``secrets``, as sent or percent-decoded, in any case."""
    raw = url.lower()
    if "%" not in url:
        decoded = raw
    elif url.isascii():  # what unquote does for ASCII text, without first splitting it into ASCII runs
        decoded = unquote_to_bytes(url).decode("utf-8", "replace").lower()
    else:
        decoded = unquote(url).lower()
    for secret in secrets:
        lowered = secret.lower()
        if lowered and (lowered in raw or lowered in decoded):
            return True
    return False


class LinkFacts(NamedTuple):
    """What a link's URL says of itself: when it dies, and how it is written in logs."""

    expires_at: datetime | None
    log_url: str


def link_facts(url: str, now: datetime | None = None) -> LinkFacts:
    """``expiry_of`` and ``redact_url`` from one pass over the query: every link made needs both."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return LinkFacts(None, _UNPARSEABLE)
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a malformed port: the expiry still counts, the log form cannot be trusted
        return LinkFacts(_facts(parts, "", None, now).expires_at, _UNPARSEABLE)
    return _facts(parts, host, port, now)


def _facts(parts: SplitResult, host: str, port: int | None, now: datetime | None) -> LinkFacts:
    shown: dict[str, str] = {}  # lower-cased names of the shown parameters: the last value counts
    fields = []
    for field in parts.query.split("&"):
        if field:
            key, _, value = field.partition("=")
            name = key.lower()
            if name in _SHOWN_QUERY_PARAMS:
                shown[name] = value
                fields.append(f"{key}={value}")
            else:
                fields.append(key + "=REDACTED")
    netloc = f"{host}:{port}" if port else host
    log_url = urlunsplit((parts.scheme, netloc, parts.path, "&".join(fields), ""))
    return LinkFacts(_expiry(shown, now), log_url)


def expiry_of(url: str, now: datetime | None = None) -> datetime | None:
    """When a presigned URL dies: ``X-Amz-Date`` + ``X-Amz-Expires`` (SigV4) or ``Expires`` (epoch).

    Never later than seven days from ``now``: no presigned URL lives longer (SigV4's ceiling), so a
    link dated 2099 is not cached, or handed on as cacheable, for decades.
    """
    return link_facts(url, now).expires_at


def redact_url(url: str) -> str:
    """The URL for logs: path kept, signatures, credentials and tokens replaced.

    The query is split as sent (no decoding and re-encoding): a shown value is exactly what the
    URL carried, every other value becomes ``REDACTED``.
    """
    return link_facts(url).log_url


_UNPARSEABLE = "<unparseable URL>"


def _expiry(params: dict[str, str], now: datetime | None) -> datetime | None:
    """``expiry_of`` from the (lower-cased) query parameters."""
    ceiling = (now or datetime.now(UTC)) + _MAX_PRESIGN
    expires_at: datetime | None = None
    if "x-amz-date" in params and "x-amz-expires" in params:
        stamp, seconds = params["x-amz-date"], params["x-amz-expires"]
        if _AMZ_DATE.fullmatch(stamp) and seconds.isdigit() and 0 < int(seconds) <= _MAX_PRESIGN_SECONDS:
            try:
                signed_at = datetime.fromisoformat(stamp)  # UTC, from the "Z"
            except ValueError:  # digits, but no such date (month 13, ...)
                return None
            expires_at = signed_at + timedelta(seconds=int(seconds))
    elif "expires" in params and params["expires"].isdigit():
        epoch = int(params["expires"])
        expires_at = ceiling if epoch >= ceiling.timestamp() else datetime.fromtimestamp(epoch, tz=UTC)
    return None if expires_at is None else min(expires_at, ceiling)
