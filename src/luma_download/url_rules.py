"""Rules for the URL we redirect to: what is allowed, when it expires, how it is logged."""

from __future__ import annotations

import ipaddress
import re
import string
import time
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, unquote_to_bytes, urlsplit, urlunsplit

from luma_download.errors import UpstreamError

MAX_URL_LENGTH = 4096
# Query parameters whose values say nothing secret; every other value is redacted in logs.
_SHOWN_QUERY_PARAMS = frozenset(
    {"x-amz-algorithm", "x-amz-date", "x-amz-expires", "x-amz-signedheaders", "expires"}
)
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's own ceiling
_IPV4_CHARACTERS = frozenset("0123456789.")  # an IPv6 address always has a ":"
# SigV4's basic ISO 8601 stamp, 20240707T160315Z (hours 00-23: no "24:00" for fromisoformat to roll over).
_AMZ_DATE = re.compile(r"[0-9]{8}T(?:[01][0-9]|2[0-3])[0-9]{4}Z", re.ASCII)
# A host name is letters, digits, dots and hyphens: nothing a consumer could decode into another host.
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", re.ASCII)
# The shape of nearly every link: https, a lower-case host name, no port, then a path and a query of
# visible ASCII with no backslash or "#" (and no "?" in the path). Such a URL's urlsplit parts come
# from one C-level match (urlsplit itself is Python: half of a link's checks); any other URL is split
# by urlsplit. tests/unit/test_url_rules.py holds the two to the same answers.
_PLAIN_HTTPS = re.compile(
    r"https://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(/[!-\"$->@-\[\]-~]*)?(?:\?([!-\"$-\[\]-~]*))?", re.ASCII
)


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


def is_fully_qualified(host: str) -> bool:
    """A host written with DNS's root dot (``x.example.com.``): refused in links and in the allowlist.

    It names the same DNS host as without the dot, but is another string to TLS (SNI and the
    certificate's names), to virtual hosting and to a SigV4 signature over the ``Host`` header: no
    aggregator signs one, and read as its dotless twin it would be a link nobody checked as written.
    """
    return host.endswith(".")


def host_is_allowed(host: str, patterns: Iterable[str]) -> bool:
    """``*.example.com`` matches any subdomain of example.com (not example.com itself).

    A fully qualified host (``x.example.com.``) matches no pattern: it is not made into another name.
    """
    host = host.lower()
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
    allowlist, written without a trailing dot. Loopback hosts are allowed only when ``allow_loopback``
    (the upstream itself is local).
    """
    return _checked(url, allowed_hosts, allow_loopback)[0]


def checked_link_facts(
    url: object, allowed_hosts: Iterable[str], *, allow_loopback: bool
) -> tuple[str, LinkFacts]:
    """``check_video_url``, then ``link_facts`` from the same parse: what every link fetched needs."""
    checked, log_prefix, query = _checked(url, allowed_hosts, allow_loopback)
    return checked, _facts(log_prefix, query, None)


def _checked(url: object, allowed_hosts: Iterable[str], allow_loopback: bool) -> tuple[str, str, str]:
    """The URL if it is safe, with its log form's part before the query (``_log_prefix``) and its query."""
    if not isinstance(url, str) or not url:
        raise UpstreamError("upstream gave no video URL")
    if len(url) > MAX_URL_LENGTH:
        raise UpstreamError("upstream video URL is too long")
    plain = _PLAIN_HTTPS.fullmatch(url)
    if plain is not None and host_is_allowed(plain[1], allowed_hosts):
        log_prefix, _, query = url.partition("?")  # as sent: no credentials, port or fragment to drop
        return url, log_prefix, query
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
    if is_fully_qualified(host):  # the fast path's pattern ends a host with a letter or digit
        raise UpstreamError("upstream video URL's host ends with a dot")
    named = _HOST_NAME.fullmatch(host) is not None
    if parts.scheme == "https" and named and host_is_allowed(host, allowed_hosts):
        return url, _log_prefix(parts, host, port), parts.query  # decided before the loopback rules
    # Past here the host is not an allowed name: only a local upstream's loopback host may pass.
    local = allow_loopback and is_loopback_host(host)
    if not named and not local:
        raise UpstreamError("upstream video URL has a malformed host")
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local):
        raise UpstreamError("upstream video URL is not https")
    if local:
        return url, _log_prefix(parts, host, port), parts.query
    raise UpstreamError("upstream video URL points to a host that is not allowed")


# What a bearer token is usually made of (RFC 3986's unreserved characters), and the escapes that can
# spell such a token: of those characters (%41 for "A", ...), which SigV4 never writes, or of a
# non-ASCII byte (a Kelvin sign lowers to "k").
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_UNRESERVED_OR_NON_ASCII_ESCAPE = re.compile(
    r"%(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|2[DdEe]|5[Ff]|7[Ee]|[89A-Fa-f][0-9A-Fa-f])"
)


def holds_secret(url: str, secrets: Iterable[str]) -> bool:
    """Whether ``url`` carries one of ``secrets``, as sent or percent-decoded, in any case."""
    raw = url.lower()
    decoded: str | None = None
    for secret in secrets:
        lowered = secret.lower()
        if not lowered:
            continue
        if lowered in raw:
            return True
        # Decoding reveals a token only through escapes that can spell it: a presigned URL's %2F
        # cannot spell a token of unreserved characters, so its URL is not decoded for it.
        if "%" in url and (
            not _UNRESERVED.issuperset(lowered) or _UNRESERVED_OR_NON_ASCII_ESCAPE.search(url)
        ):
            if decoded is None:
                decoded = _percent_decoded(url).lower()
            if lowered in decoded:
                return True
    return False


def _percent_decoded(url: str) -> str:
    """What ``unquote`` gives (UTF-8, bad bytes replaced)."""
    if url.isascii():  # what unquote does for ASCII text, without first splitting it into ASCII runs
        return unquote_to_bytes(url).decode("utf-8", "replace")
    return unquote(url)


class LinkFacts(NamedTuple):
    """What a link's URL says of itself: when it dies, and how it is written in logs."""

    expires_at: float | None  # epoch seconds
    log_url: str


def link_facts(url: str, now: float | None = None) -> LinkFacts:
    """``expiry_of`` and ``redact_url`` from one pass over the query: every link made needs both."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return LinkFacts(None, _UNPARSEABLE)
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a malformed port: the expiry still counts, the log form cannot be trusted
        return LinkFacts(_facts("", parts.query, now).expires_at, _UNPARSEABLE)
    return _facts(_log_prefix(parts, host, port), parts.query, now)


def _log_prefix(parts: SplitResult, host: str, port: int | None) -> str:
    """A URL's log form up to its query: no credentials, the host in lower case, no fragment."""
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _facts(log_prefix: str, query: str, now: float | None) -> LinkFacts:
    """The expiry, and the log form: ``log_prefix``, then the query with every unshown value redacted."""
    shown: dict[str, str] = {}  # lower-cased names of the shown parameters: the last value counts
    fields = []
    for field in query.split("&"):
        if field:
            key, _, value = field.partition("=")
            name = key.lower()
            if name in _SHOWN_QUERY_PARAMS:
                shown[name] = value
                fields.append(f"{key}={value}")
            else:
                fields.append(key + "=REDACTED")
    redacted = "&".join(fields)
    return LinkFacts(_expiry(shown, now), f"{log_prefix}?{redacted}" if redacted else log_prefix)


def expiry_of(url: str, now: float | None = None) -> float | None:
    """When a presigned URL dies, in epoch seconds: ``X-Amz-Date`` + ``X-Amz-Expires`` (SigV4) or
    ``Expires`` (epoch).

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


def _expiry(params: dict[str, str], now: float | None) -> float | None:
    """``expiry_of`` from the (lower-cased) query parameters.

    Counted in epoch seconds, as ``time.time()``, the link cache and ``Cache-Control`` count: the
    datetime arithmetic this replaced cost a cache miss 17 to 19 us interleaved as in ``make bench``
    (0.3 us in a tight loop: code only a miss runs costs most when the other contenders have just had
    the caches), and a datetime on the link cost every cache hit 2 us more (``make bench``'s A/B).
    """
    expires: float
    if "x-amz-date" in params and "x-amz-expires" in params:
        stamp, seconds = params["x-amz-date"], params["x-amz-expires"]
        if not (_AMZ_DATE.fullmatch(stamp) and seconds.isdigit()):
            return None
        lifetime = int(seconds)
        if not 0 < lifetime <= _MAX_PRESIGN_SECONDS:
            return None
        try:
            expires = datetime.fromisoformat(stamp).timestamp() + lifetime  # UTC, from the "Z"
        except ValueError:  # digits, but no such date (month 13, ...)
            return None
    elif "expires" in params and params["expires"].isdigit():
        expires = int(params["expires"])
    else:
        return None
    ceiling = (time.time() if now is None else now) + _MAX_PRESIGN_SECONDS
    return float(min(expires, ceiling))
