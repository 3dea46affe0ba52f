"""The archive's settings: off unless a bucket is named, every value checked, the fixed names read."""

from __future__ import annotations

import pytest

from luma_download.errors import ConfigurationError
from luma_download.settings import load_settings

REQUIRED = {"UPSTREAM_BASE_URL": "https://api.example.com", "TOKEN_SECRET_ID": "luma/token"}
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/luma-archive-jobs"
# CloudFront delivery, complete: the bucket, the domain, the key id and the private key's secret.
CDN = {
    "ARCHIVE_BUCKET": "videos",
    "ARCHIVE_CDN_DOMAIN": "d111111abcdef8.cloudfront.net",
    "ARCHIVE_CDN_KEY_ID": "K2JCJMDEHXQW5F",
    "ARCHIVE_CDN_KEY_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma/cdn-key-AbCdEf",
}


def test_archiving_is_off_by_default() -> None:
    settings = load_settings(REQUIRED)

    assert not settings.archive_on
    assert (settings.archive_bucket, settings.archive_queue_url) == ("", "")
    assert settings.archive_prefix == "luma/"
    assert settings.archive_link_seconds == 3600
    assert settings.archive_recheck_seconds == 60
    assert settings.archive_max_bytes == 2 * 1024**3


def test_every_archive_variable_is_read() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "ARCHIVE_BUCKET": "my-videos.example",
            "ARCHIVE_PREFIX": "copies/luma/",
            "ARCHIVE_QUEUE_URL": QUEUE,
            "ARCHIVE_LINK_SECONDS": "600",
            "ARCHIVE_RECHECK_SECONDS": "0",
            "ARCHIVE_MAX_BYTES": "1048576",
        }
    )

    assert settings.archive_on
    assert (settings.archive_bucket, settings.archive_prefix) == ("my-videos.example", "copies/luma/")
    assert settings.archive_queue_url == QUEUE
    assert (settings.archive_link_seconds, settings.archive_recheck_seconds) == (600, 0)
    assert settings.archive_max_bytes == 1024 * 1024


def test_an_empty_prefix_puts_copies_at_the_bucket_root() -> None:
    assert load_settings({**REQUIRED, "ARCHIVE_BUCKET": "videos", "ARCHIVE_PREFIX": ""}).archive_prefix == ""


def test_a_loopback_queue_may_be_plain_http() -> None:
    queue = "http://127.0.0.1:5000/123456789012/jobs"
    settings = load_settings({**REQUIRED, "ARCHIVE_BUCKET": "videos", "ARCHIVE_QUEUE_URL": queue})
    assert settings.archive_queue_url == queue


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"ARCHIVE_BUCKET": "My_Bucket"}, "ARCHIVE_BUCKET"),
        ({"ARCHIVE_BUCKET": "ab"}, "ARCHIVE_BUCKET"),
        ({"ARCHIVE_BUCKET": "videos", "ARCHIVE_PREFIX": "/luma/"}, "ARCHIVE_PREFIX"),
        ({"ARCHIVE_BUCKET": "videos", "ARCHIVE_PREFIX": "luma videos/"}, "ARCHIVE_PREFIX"),
        ({"ARCHIVE_QUEUE_URL": QUEUE}, "ARCHIVE_QUEUE_URL"),
        (
            {"ARCHIVE_BUCKET": "videos", "ARCHIVE_QUEUE_URL": "http://sqs.example.com/1/q"},
            "ARCHIVE_QUEUE_URL",
        ),
        ({"ARCHIVE_BUCKET": "videos", "ARCHIVE_QUEUE_URL": "jobs"}, "ARCHIVE_QUEUE_URL"),
        ({"ARCHIVE_LINK_SECONDS": "604801"}, "ARCHIVE_LINK_SECONDS"),
        ({"ARCHIVE_LINK_SECONDS": "10"}, "ARCHIVE_LINK_SECONDS"),
        ({"ARCHIVE_RECHECK_SECONDS": "-1"}, "ARCHIVE_RECHECK_SECONDS"),
        ({"ARCHIVE_MAX_BYTES": "0"}, "ARCHIVE_MAX_BYTES"),
        ({"ARCHIVE_MAX_BYTES": "2GiB"}, "ARCHIVE_MAX_BYTES"),
        ({**CDN, "ARCHIVE_CDN_DOMAIN": "https://d111111abcdef8.cloudfront.net"}, "ARCHIVE_CDN_DOMAIN"),
        ({**CDN, "ARCHIVE_CDN_DOMAIN": "d111111abcdef8.cloudfront.net/luma"}, "ARCHIVE_CDN_DOMAIN"),
        ({**CDN, "ARCHIVE_CDN_DOMAIN": "d111111abcdef8.cloudfront.net:443"}, "ARCHIVE_CDN_DOMAIN"),
        ({**CDN, "ARCHIVE_CDN_DOMAIN": "cloudfront"}, "ARCHIVE_CDN_DOMAIN"),
        ({**CDN, "ARCHIVE_CDN_DOMAIN": "user@127.0.0.1:8443"}, "ARCHIVE_CDN_DOMAIN"),
        ({**CDN, "ARCHIVE_CDN_DOMAIN": "bad_host.example.com"}, "ARCHIVE_CDN_DOMAIN"),
        ({**CDN, "ARCHIVE_BUCKET": ""}, "ARCHIVE_BUCKET"),
        ({**CDN, "ARCHIVE_CDN_KEY_ID": ""}, "ARCHIVE_CDN_KEY_ID"),
        ({**CDN, "ARCHIVE_CDN_KEY_ID": "k2 jcj"}, "ARCHIVE_CDN_KEY_ID"),
        ({**CDN, "ARCHIVE_CDN_KEY_SECRET_ID": " "}, "ARCHIVE_CDN_KEY_SECRET_ID"),
        ({**CDN, "EVENT_BUS_NAME": "luma events"}, "EVENT_BUS_NAME"),
        ({**CDN, "EVENT_BUS_NAME": "arn:aws:sqs:eu-west-1:123456789012:queue"}, "EVENT_BUS_NAME"),
        ({**CDN, "ARCHIVE_MAX_RECEIVES": "0"}, "ARCHIVE_MAX_RECEIVES"),
        ({**CDN, "ARCHIVE_MAX_RECEIVES": "1001"}, "ARCHIVE_MAX_RECEIVES"),
        ({**CDN, "ARCHIVE_MAX_RECEIVES": "three"}, "ARCHIVE_MAX_RECEIVES"),
    ],
)
def test_bad_archive_settings_name_the_variable(changes: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**REQUIRED, **changes})
    assert raised.value.detail is not None
    assert named in raised.value.detail


# --- CloudFront delivery and the worker's events (issue 18) ---


def test_delivery_is_s3_links_and_no_events_by_default() -> None:
    settings = load_settings(REQUIRED)

    assert not settings.archive_cdn_on
    assert (settings.archive_cdn_domain, settings.archive_cdn_key_id, settings.archive_cdn_key_secret_id) == (
        "",
        "",
        "",
    )
    assert settings.event_bus_name == ""
    assert settings.archive_max_receives == 3


def test_every_cdn_and_event_variable_is_read() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            **CDN,
            "ARCHIVE_CDN_DOMAIN": " Videos.Example.COM ",
            "EVENT_BUS_NAME": "default",
            "ARCHIVE_MAX_RECEIVES": "5",
        }
    )

    assert settings.archive_cdn_on
    assert settings.archive_cdn_domain == "videos.example.com"
    assert settings.archive_cdn_key_id == "K2JCJMDEHXQW5F"
    assert settings.archive_cdn_key_secret_id == CDN["ARCHIVE_CDN_KEY_SECRET_ID"]
    assert settings.event_bus_name == "default"
    assert settings.archive_max_receives == 5


@pytest.mark.parametrize(
    "bus", ["luma-events", "a/b.c_d-e", "arn:aws:events:eu-west-1:123456789012:event-bus/luma-events"]
)
def test_a_bus_is_a_name_or_an_arn(bus: str) -> None:
    assert load_settings({**REQUIRED, "EVENT_BUS_NAME": bus}).event_bus_name == bus


@pytest.mark.parametrize("domain", ["127.0.0.1:8443", "localhost", "[::1]:9000"])
def test_a_local_run_may_stand_a_loopback_host_in_for_the_distribution(domain: str) -> None:
    assert load_settings({**REQUIRED, **CDN, "ARCHIVE_CDN_DOMAIN": domain}).archive_cdn_domain == domain
