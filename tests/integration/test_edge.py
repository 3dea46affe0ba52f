"""CloudFront links played through the loopback stand-in of CloudFront (``local/edge.py``) and moto's S3.

The links come from the code the function will use (``luma_download.archive.cdn_links``); the stand-in
checks them as CloudFront does and serves the object from the embedded S3, byte ranges included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import urllib3
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from local.aws import EmbeddedAws
from local.demo_video import DEMO_MP4
from local.edge import Edge, KeyPair, demo_key_pair, start_edge
from luma_download.archive.cdn_links import CdnLinks, from_pem
from tests.integration.conftest import fetch

ORIGIN_PREFIX = "archive/"  # the distribution's origin path: /luma/x.mp4 is s3://<bucket>/archive/luma/x.mp4
VIDEO_KEY = "luma/1fa17995-f527-46a5-9796-294b453b8a7f.mp4"
OTHER_KEY = "luma/5d2c8e41-0b7a-4f36-9c1e-7a8b9c0d1e2f.mp4"
VIDEO = DEMO_MP4.read_bytes()
OTHER = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


@pytest.fixture(scope="module")
def key_pairs() -> dict[str, KeyPair]:
    return {"ECDSA": demo_key_pair("ECDSA", "KEDGEECDSA"), "RSA": demo_key_pair("RSA", "KEDGERSA")}


@pytest.fixture(scope="module")
def edge(embedded_aws: EmbeddedAws, key_pairs: dict[str, KeyPair]) -> Iterator[Edge]:
    bucket = embedded_aws.create_bucket(f"edge-{uuid.uuid4().hex[:12]}")
    s3 = embedded_aws.client("s3")
    for key, data in ((VIDEO_KEY, VIDEO), (OTHER_KEY, OTHER)):
        s3.put_object(Bucket=bucket, Key=ORIGIN_PREFIX + key, Body=data, ContentType="video/mp4")
    public_keys = {pair.key_pair_id: pair.public_pem for pair in key_pairs.values()}
    stand_in = start_edge(embedded_aws, bucket, public_keys, origin_prefix=ORIGIN_PREFIX)
    yield stand_in
    stand_in.stop()


def links(edge: Edge, pair: KeyPair, key_pair_id: str | None = None) -> CdnLinks:
    return from_pem(pair.private_pem, key_pair_id or pair.key_pair_id, edge.domain, scheme="http")


def in_a_minute() -> int:
    return int(time.time()) + 60


def get(url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, headers=headers, redirect=False, timeout=10, retries=False)


def assert_refused(url: str, reason: str) -> None:
    status, body = fetch(url)
    assert status == 403, body
    assert f"<Message>{reason}</Message>".encode() in body


@pytest.mark.parametrize("kind", ["ECDSA", "RSA"])
def test_a_signed_link_plays_the_exact_bytes(edge: Edge, key_pairs: dict[str, KeyPair], kind: str) -> None:
    url = links(edge, key_pairs[kind]).link(VIDEO_KEY, in_a_minute())

    answer = get(url)

    assert answer.status == 200
    assert answer.data == VIDEO
    assert answer.headers["Content-Type"] == "video/mp4"
    assert answer.headers["Content-Length"] == str(len(VIDEO))
    assert answer.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("asked", "start", "end"),
    [
        ("bytes=0-1", 0, 2),  # what a browser's first media request looks like: bytes=0-
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=50000-", 50000, len(VIDEO)),
        ("bytes=-100", len(VIDEO) - 100, len(VIDEO)),  # the moov box at the end
        (f"bytes={len(VIDEO) - 10}-{len(VIDEO) + 500}", len(VIDEO) - 10, len(VIDEO)),
    ],
)
def test_a_range_gets_the_exact_slice(
    edge: Edge, key_pairs: dict[str, KeyPair], asked: str, start: int, end: int
) -> None:
    url = links(edge, key_pairs["ECDSA"]).link(VIDEO_KEY, in_a_minute())

    answer = get(url, Range=asked)

    assert answer.status == 206
    assert answer.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(VIDEO)}"
    assert answer.data == VIDEO[start:end]
    assert answer.headers["Content-Type"] == "video/mp4"


def test_a_range_past_the_end_is_416(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    url = links(edge, key_pairs["ECDSA"]).link(VIDEO_KEY, in_a_minute())

    answer = get(url, Range=f"bytes={len(VIDEO)}-")

    assert answer.status == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(VIDEO)}"


@pytest.mark.parametrize("asked", ["bytes=0-1,5-6", "bytes=", "items=0-9", "junk"])
def test_a_range_s3_would_not_honour_is_ignored(
    edge: Edge, key_pairs: dict[str, KeyPair], asked: str
) -> None:
    url = links(edge, key_pairs["ECDSA"]).link(VIDEO_KEY, in_a_minute())

    answer = get(url, Range=asked)

    assert (answer.status, answer.data) == (200, VIDEO)


def test_head_answers_the_headers_alone(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    url = links(edge, key_pairs["RSA"]).link(VIDEO_KEY, in_a_minute())

    answer = urllib3.request("HEAD", url, timeout=10, retries=False)

    assert answer.status == 200
    assert answer.headers["Content-Length"] == str(len(VIDEO))
    assert answer.data == b""


def test_a_link_to_a_missing_object_is_404(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    status, _ = fetch(links(edge, key_pairs["ECDSA"]).link("luma/never-archived.mp4", in_a_minute()))
    assert status == 404


@pytest.mark.parametrize("kind", ["ECDSA", "RSA"])
def test_a_link_moved_to_another_object_is_refused(
    edge: Edge, key_pairs: dict[str, KeyPair], kind: str
) -> None:
    url = links(edge, key_pairs[kind]).link(VIDEO_KEY, in_a_minute())

    assert_refused(url.replace(VIDEO_KEY, OTHER_KEY), "the signature does not match the URL")


def test_a_link_with_a_later_expiry_is_refused(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    expires = in_a_minute()
    url = links(edge, key_pairs["ECDSA"]).link(VIDEO_KEY, expires)

    assert_refused(
        url.replace(f"Expires={expires}", f"Expires={expires + 86400}"),
        "the signature does not match the URL",
    )


def test_a_link_stripped_of_its_hash_algorithm_is_refused(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    """Without the parameter CloudFront checks SHA-1: a SHA-256 signature cannot pass for one."""
    url = links(edge, key_pairs["RSA"]).link(VIDEO_KEY, in_a_minute())

    assert_refused(url.removesuffix("&Hash-Algorithm=SHA256"), "the signature does not match the URL")


def test_an_unknown_key_pair_id_is_refused(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    url = links(edge, key_pairs["ECDSA"], key_pair_id="KNOTINTHEGROUP").link(VIDEO_KEY, in_a_minute())

    assert_refused(url, "unknown Key-Pair-Id")


def test_another_keys_id_is_refused(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    """Signed with the ECDSA key, naming the RSA key of the same group."""
    url = links(edge, key_pairs["ECDSA"], key_pair_id=key_pairs["RSA"].key_pair_id).link(
        VIDEO_KEY, in_a_minute()
    )

    assert_refused(url, "the signature does not match the URL")


def test_a_link_signed_with_a_key_outside_the_group_is_refused(
    edge: Edge, key_pairs: dict[str, KeyPair]
) -> None:
    stranger = demo_key_pair("ECDSA", key_pairs["ECDSA"].key_pair_id)  # the right id, the wrong key

    assert_refused(
        links(edge, stranger).link(VIDEO_KEY, in_a_minute()), "the signature does not match the URL"
    )


def test_an_expired_link_is_refused(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    url = links(edge, key_pairs["ECDSA"]).link(VIDEO_KEY, int(time.time()) - 1)

    assert_refused(url, "the link has expired")


@pytest.mark.parametrize("dropped", ["Expires", "Signature", "Key-Pair-Id"])
def test_a_link_missing_a_signing_parameter_is_refused(
    edge: Edge, key_pairs: dict[str, KeyPair], dropped: str
) -> None:
    url = links(edge, key_pairs["ECDSA"]).link(VIDEO_KEY, in_a_minute())
    base, _, query = url.partition("?")
    kept = [field for field in query.split("&") if not field.startswith(f"{dropped}=")]

    assert_refused(f"{base}?{'&'.join(kept)}", f"missing {dropped}")


def test_a_legacy_sha1_link_plays(edge: Edge, key_pairs: dict[str, KeyPair]) -> None:
    """CloudFront still takes SHA-1 links (no ``Hash-Algorithm``), and so does the stand-in."""
    pair = key_pairs["RSA"]
    private = serialization.load_pem_private_key(pair.private_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    signer = CloudFrontSigner(
        pair.key_pair_id,
        lambda policy: private.sign(policy, padding.PKCS1v15(), hashes.SHA1()),  # noqa: S303 (the legacy hash)
    )
    url = signer.generate_presigned_url(
        f"{edge.base_url}/{VIDEO_KEY}", date_less_than=datetime.fromtimestamp(in_a_minute(), UTC)
    )

    assert fetch(url) == (200, VIDEO)
