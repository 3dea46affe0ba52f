from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from luma_download.errors import ConfigurationError, UpstreamError
from luma_download.settings import DEFAULT_ALLOWED_REDIRECT_HOSTS, load_settings
from luma_download.url_rules import (
    check_video_url,
    checked_link_facts,
    expiry_of,
    holds_secret,
    host_is_allowed,
    is_loopback_host,
    link_facts,
    redact_url,
)

ALLOWED = tuple(DEFAULT_ALLOWED_REDIRECT_HOSTS.split(","))
R2 = "https://dc53a917.r2.cloudflarestorage.com/bucket/v.mp4"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("dc53a917.r2.cloudflarestorage.com", True),
        ("A.B.R2.CLOUDFLARESTORAGE.COM", True),
        ("r2.cloudflarestorage.com", False),  # `*.` means subdomains only
        ("evilr2.cloudflarestorage.com.attacker.net", False),
        ("x.cdn-luma.com", True),
        ("cdn-luma.com.evil.net", False),
        ("storage.lumalabs.ai", True),
        ("lumalabs.ai", False),
        ("dc53a917.r2.cloudflarestorage.com.", False),  # fully qualified: never its dotless twin
        ("storage.lumalabs.ai..", False),
    ],
)
def test_host_allowlist(host: str, allowed: bool) -> None:
    assert host_is_allowed(host, ALLOWED) is allowed


def test_exact_entries_match_only_themselves() -> None:
    assert host_is_allowed("videos.example.com", ("videos.example.com",))
    assert not host_is_allowed("a.videos.example.com", ("videos.example.com",))
    assert not host_is_allowed("videos.example.com.", ("videos.example.com",))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "app.localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["example.com", "10.0.0.1", "169.254.169.254", "0.0.0.0", "localhost.evil.com"]
)
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback_host(host)


def test_an_allowed_https_url_passes_unchanged() -> None:
    assert check_video_url(R2, ALLOWED, allow_loopback=False) == R2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4566/bucket/demo.mp4?X-Amz-Signature=abc",
        "https://localhost:8443/demo.mp4",
    ],
)
def test_loopback_urls_pass_only_when_the_upstream_is_local(url: str) -> None:
    assert check_video_url(url, ALLOWED, allow_loopback=True) == url
    with pytest.raises(UpstreamError):
        check_video_url(url, ALLOWED, allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        None,
        42,
        "",
        "http://dc53a917.r2.cloudflarestorage.com/v.mp4",
        "ftp://dc53a917.r2.cloudflarestorage.com/v.mp4",
        "javascript:alert(1)",
        "data:video/mp4;base64,AAAA",
        "https://evil.example.com/v.mp4",
        "https://user:pw@dc53a917.r2.cloudflarestorage.com/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com/v.mp4\r\nSet-Cookie: a=b",
        "https://dc53a917.r2.cloudflarestorage.com/v.mp4\t",
        "https://dc53a917.r2.cloudflarestorage.com\\@evil.example.com/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com:99999/v.mp4",
        "https://dc53a917.r2.cloudflarestorage.com/v\u00e9.mp4",
        "https://[::1/v.mp4",
        R2 + "?" + "a" * 5000,
    ],
)
def test_unsafe_urls_are_refused(url: object) -> None:
    with pytest.raises(UpstreamError):
        check_video_url(url, ALLOWED, allow_loopback=False)


def test_sigv4_expiry_is_date_plus_expires() -> None:
    url = R2 + "?X-Amz-Date=20240707T160315Z&X-Amz-Expires=3600&X-Amz-Signature=abc"
    assert expiry_of(url) == datetime(2024, 7, 7, 17, 3, 15, tzinfo=UTC).timestamp()


def test_epoch_expires_is_understood() -> None:
    assert expiry_of(R2 + "?Expires=1795615395&Signature=abc") == 1795615395


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?X-Amz-Date=20240707T160315Z",  # no X-Amz-Expires
        "?X-Amz-Expires=3600",
        "?X-Amz-Date=yesterday&X-Amz-Expires=3600",
        "?X-Amz-Date=20240707T160315Z&X-Amz-Expires=-5",
        "?X-Amz-Date=20240707T160315Z&X-Amz-Expires=99999999",
        "?Expires=soon",
    ],
)
def test_unknown_or_nonsense_expiry_is_none(query: str) -> None:
    assert expiry_of(R2 + query) is None


def test_redaction_keeps_what_helps_and_hides_what_signs() -> None:
    url = (
        R2 + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240707%2Fauto%2Fs3%2Faws4_request"
        "&X-Amz-Date=20240707T160315Z&X-Amz-Expires=3600&X-Amz-Security-Token=FQoGZXIvYXdzE"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=55dd4a93&token=abc"
    )
    redacted = redact_url(url)

    assert redacted.startswith(R2 + "?")
    for kept in ("X-Amz-Date=20240707T160315Z", "X-Amz-Expires=3600", "X-Amz-Algorithm=AWS4-HMAC-SHA256"):
        assert kept in redacted
    for secret in ("55dd4a93", "AKIA", "FQoGZXIvYXdzE", "token=abc"):
        assert secret not in redacted
    assert "X-Amz-Signature=REDACTED" in redacted


def test_redaction_drops_credentials_and_fragments() -> None:
    assert redact_url("https://user:pw@host.example.com:8443/p#frag") == "https://host.example.com:8443/p"


@pytest.mark.parametrize(
    "query",
    [
        "?X-Amz-Date=20990101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=abc",  # dated 2099
        "?Expires=4102444800&Signature=abc",  # 2100, as an epoch
        "?Expires=999999999999&Signature=abc",
    ],
)
def test_expiry_never_lies_beyond_seven_days(query: str) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    seven_days = timedelta(days=7)

    assert expiry_of(R2 + query, now.timestamp()) == (now + seven_days).timestamp()
    # An honest link is left as it is.
    honest = R2 + "?X-Amz-Date=20261125T115000Z&X-Amz-Expires=3600&X-Amz-Signature=abc"
    assert expiry_of(honest, now.timestamp()) == datetime(2026, 11, 25, 12, 50, tzinfo=UTC).timestamp()


def test_redaction_keeps_shown_values_exactly_as_sent() -> None:
    redacted = redact_url(R2 + "?X-Amz-Date=20240707T160315Z&X-Amz-Credential=a%2Fb&empty&x=")
    assert redacted == R2 + "?X-Amz-Date=20240707T160315Z&X-Amz-Credential=REDACTED&empty=REDACTED&x=REDACTED"


@pytest.mark.parametrize(
    "host",
    [
        "evil.com%2f.r2.cloudflarestorage.com",  # decodes to evil.com/ ...
        "evil.com%40x.r2.cloudflarestorage.com",  # decodes to evil.com@ ...
        "x.r2.cloudflarestorage.com%00",
        "-x.r2.cloudflarestorage.com",
        "x_y.r2.cloudflarestorage.com",
    ],
)
def test_hosts_are_letters_digits_dots_and_hyphens(host: str) -> None:
    with pytest.raises(UpstreamError):
        check_video_url(f"https://{host}/v.mp4", ALLOWED, allow_loopback=False)
    good = "https://a-b.x9.r2.cloudflarestorage.com/v.mp4"
    assert check_video_url(good, ALLOWED, allow_loopback=False) == good


@pytest.mark.parametrize(
    "url",
    [
        R2 + "?token=sk-live-123456789",
        "https://sk-live-123456789.r2.cloudflarestorage.com/v.mp4",
        R2.replace("/bucket/", "/SK-LIVE-123456789/"),
        R2 + "?t=sk%2Dlive%2D123456789",
    ],
)
def test_a_link_holding_a_token_we_sent_is_recognised(url: str) -> None:
    assert holds_secret(url, ("other", "sk-live-123456789"))
    assert not holds_secret(R2 + "?X-Amz-Signature=abc", ("sk-live-123456789",))


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/%53K-LIVE-123456789/v.mp4", "sk-live-123456789"),  # an escaped capital
        ("/%E2%84%AAey-9/v.mp4", "key-9"),  # a Kelvin sign, which lowers to "k"
        ("/a%2Fb%2Bc/v.mp4", "a/b+c"),  # a token with reserved characters, escaped as a URL would
    ],
)
def test_a_token_spelled_with_escapes_is_recognised(path: str, token: str) -> None:
    # Beside a presigned URL's own escapes (%2F), which cannot spell it.
    url = f"https://dc53a917.r2.cloudflarestorage.com{path}?X-Amz-Credential=AKIA%2F20261125%2Fauto"

    assert holds_secret(url, (token,))
    assert not holds_secret(url.replace(path, "/v.mp4"), (token,))


# What a link of the usual shape can hold (visible ASCII, and no backslash, "#" or "?" in the path),
# and a few things it can hold that urlsplit reads in its own way, placed where they count.
_PATH = st.from_regex(r"/[!-\"$->@-\[\]-~]{0,40}", fullmatch=True)
_QUERY = st.from_regex(r"[!-\"$-\[\]-~]{0,40}", fullmatch=True)
_TRICKY = st.sampled_from(["", "//", "/../", "@", ":", "%2F", "?", "??", "=", "&", "%", "[", "]", ";"])


@settings(max_examples=400, deadline=None, database=None)
@given(
    host=st.from_regex(r"[a-z0-9](?:[a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True),
    path=st.none() | st.tuples(_PATH, _TRICKY, _PATH).map("".join),
    query=st.none() | st.tuples(_QUERY, _TRICKY, _QUERY).map("".join),
)
@example(host="a.b", path="//evil.com/x", query="u=https://x@y.com/?a")
@example(host="a.b", path=None, query="X-Amz-Date=20261125T115000Z&X-Amz-Expires=3600&Sig=x")
@example(host="a.b", path="/v.mp4", query="?@:[]")
def test_a_usual_link_gets_the_answers_urlsplit_gives(host: str, path: str | None, query: str | None) -> None:
    url = f"https://{host}{path or ''}" + (f"?{query}" if query is not None else "")
    allowed = (host,)

    checked, facts = checked_link_facts(url, allowed, allow_loopback=False)
    # link_facts always splits with urlsplit: the same log form and expiry, from the same parts.
    by_urlsplit = link_facts(url)
    assert checked == url
    assert facts.log_url == by_urlsplit.log_url
    assert (facts.expires_at is None) == (by_urlsplit.expires_at is None)
    if facts.expires_at is not None and by_urlsplit.expires_at is not None:
        # Both are capped at seven days from their own "now", taken microseconds apart.
        assert abs(facts.expires_at - by_urlsplit.expires_at) < 1


@pytest.mark.parametrize(
    "url",
    [
        "https://A.r2.cloudflarestorage.com/v.mp4?X-Amz-Signature=s",  # upper case: urlsplit lowers it
        "https://a.r2.cloudflarestorage.com:443/v.mp4?X-Amz-Signature=s",  # a port
        "https://a.r2.cloudflarestorage.com/v.mp4?X-Amz-Signature=s#frag",  # a fragment
    ],
)
def test_a_link_of_another_shape_is_still_checked_and_redacted(url: str) -> None:
    checked, facts = checked_link_facts(url, ALLOWED, allow_loopback=False)

    assert checked == url
    assert facts.log_url.startswith("https://a.r2.cloudflarestorage.com")
    assert facts.log_url.endswith("/v.mp4?X-Amz-Signature=REDACTED")


# -- a host with a trailing dot (issue 16 defect 3): refused, in a link and in the allowlist alike ------

R2_HOST = "dc53a917.r2.cloudflarestorage.com"
TRAILING_DOT = "host ends with a dot"


@pytest.mark.parametrize(
    "url",
    [
        f"https://{R2_HOST}./bucket/v.mp4?X-Amz-Signature=s",  # the usual shape, but for the dot
        f"https://{R2_HOST}.",
        f"https://{R2_HOST}.?X-Amz-Signature=s",
        f"https://{R2_HOST.upper()}./bucket/v.mp4",  # shapes only urlsplit reads
        f"https://{R2_HOST}.:443/bucket/v.mp4",
        f"https://{R2_HOST}./bucket/v.mp4#f",
        f"https://{R2_HOST}../bucket/v.mp4",
    ],
)
@pytest.mark.parametrize("allowed", [ALLOWED, (R2_HOST,), (f"{R2_HOST}.",), ("*.cloudflarestorage.com.",)])
def test_a_link_whose_host_ends_with_a_dot_is_refused_for_that_reason(
    url: str, allowed: tuple[str, ...]
) -> None:
    with pytest.raises(UpstreamError, match=TRAILING_DOT):
        check_video_url(url, allowed, allow_loopback=False)
    with pytest.raises(UpstreamError, match=TRAILING_DOT):
        checked_link_facts(url, allowed, allow_loopback=False)
    # Without the dot, the same link is what the allowlist lets through
    dotless = url.replace(".com..", ".com").replace(".com.", ".com").replace(".COM.", ".COM")
    if not allowed[0].endswith("."):
        assert check_video_url(dotless, allowed, allow_loopback=False) == dotless


@pytest.mark.parametrize("url", ["http://localhost.:8080/v.mp4", "http://127.0.0.1.:8080/v.mp4"])
def test_a_loopback_host_ends_with_no_dot_either(url: str) -> None:
    with pytest.raises(UpstreamError, match=TRAILING_DOT):
        check_video_url(url, ALLOWED, allow_loopback=True)
    assert check_video_url(url.replace(".:", ":"), ALLOWED, allow_loopback=True) == url.replace(".:", ":")


@settings(max_examples=300, deadline=None, database=None)
@given(
    host=st.from_regex(r"[a-z0-9](?:[a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True),
    path=st.none() | _PATH,
    query=st.none() | _QUERY,
    shape=st.sampled_from(["as sent", "upper case", "port", "fragment"]),
)
def test_a_fully_qualified_host_is_refused_whichever_path_reads_the_link(
    host: str, path: str | None, query: str | None, shape: str
) -> None:
    """The regex's path (the usual shape) and urlsplit's (any other) give the same refusal."""
    written = {"as sent": f"{host}.", "upper case": f"{host.upper()}.", "port": f"{host}.:443"}
    url = f"https://{written.get(shape, f'{host}.')}{path or ''}" + (f"?{query}" if query is not None else "")
    url += "#f" if shape == "fragment" else ""
    # Its own name, dotless or not, or any parent's wildcard: none lets it through
    parents = [f"*.{host.split('.', i)[-1]}" for i in range(1, host.count(".") + 1)]
    allowed = (host, f"{host}.", *parents, *(f"{parent}." for parent in parents))

    with pytest.raises(UpstreamError, match=TRAILING_DOT):
        checked_link_facts(url, allowed, allow_loopback=True)


@pytest.mark.parametrize(
    "entry", ["videos.example.com.", "*.example.com.", "*.r2.cloudflarestorage.com.,x.y"]
)
def test_an_allowlist_entry_ending_with_a_dot_is_a_configuration_error(entry: str) -> None:
    environ = {"UPSTREAM_BASE_URL": "https://api.example.com", "TOKEN_SECRET_ID": "s"}
    assert load_settings({**environ, "ALLOWED_REDIRECT_HOSTS": entry.replace(".,", ",").rstrip(".")})

    with pytest.raises(ConfigurationError) as raised:
        load_settings({**environ, "ALLOWED_REDIRECT_HOSTS": entry})

    assert raised.value.detail is not None and "ALLOWED_REDIRECT_HOSTS" in raised.value.detail
    assert "ending with a dot" in raised.value.detail
