"""Edge delivery: with ARCHIVE_CDN_DOMAIN set, the request path hands out CloudFront-signed links to copies.

Through the real handler: moto's S3 holds the copy and moto's Secrets Manager the private key (the
session's canary keys, ECDSA P-256 and RSA 2048, which every leak watch looks for), and the loopback
stand-in of CloudFront (``local/edge.py``) in front of the bucket checks each link as CloudFront does
and plays it. The worker, which has no CDN variables (template.yaml), keeps presigned S3 links.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import urllib3
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from local.aggregator import Aggregator
from local.demo_video import DEMO_MP4
from local.edge import Edge, start_edge
from local.faulty_aws import THROTTLED, FaultyAws
from local.lambda_context import LocalLambdaContext
from luma_download.errors import ConfigurationError
from tests.conftest import EVENT_TASK_ID, LeakWatch, LogLines, canary_key_pair
from tests.integration.conftest import ArchiveRig, completed_with_file, fetch, sha256
from tests.unit.archive.test_cdn_links import UNUSABLE

TASK = EVENT_TASK_ID
VIDEO = DEMO_MP4.read_bytes()
KINDS: tuple[Literal["ECDSA", "RSA"], ...] = ("ECDSA", "RSA")
LINK_SECONDS = 600
MARGIN = 300  # URL_CACHE_MARGIN_SECONDS' default
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def edge(archive_rig: ArchiveRig) -> Iterator[Edge]:
    """CloudFront in front of this test's bucket, trusting both canary keys (one key group)."""
    public_keys = {pair.key_pair_id: pair.public_pem for pair in map(canary_key_pair, KINDS)}
    stand_in = start_edge(archive_rig.aws, archive_rig.bucket, public_keys)
    yield stand_in
    stand_in.stop()


def archived(rig: ArchiveRig, task_id: str = TASK) -> None:
    """The task's copy in the bucket, as the worker leaves it."""
    rig.s3.put_object(Bucket=rig.bucket, Key=rig.key(task_id), Body=VIDEO, ContentType="video/mp4")


def key_secret(rig: ArchiveRig, value: str) -> str:
    """A new secret holding ``value`` (the private key, or what a misconfiguration put there)."""
    name = f"luma/cdn-key-{uuid.uuid4().hex[:12]}"
    rig.aws.client("secretsmanager").create_secret(Name=name, SecretString=value)
    return name


def cdn_settings(edge: Edge, key_pair_id: str, secret_id: str) -> dict[str, str]:
    """What the template sets on the request path with ArchiveDelivery=CloudFront."""
    return {
        "ARCHIVE_CDN_DOMAIN": edge.domain,
        "ARCHIVE_CDN_KEY_ID": key_pair_id,
        "ARCHIVE_CDN_KEY_SECRET_ID": secret_id,
        "ARCHIVE_LINK_SECONDS": str(LINK_SECONDS),
    }


def cdn_service(rig: ArchiveRig, edge: Edge, kind: Literal["ECDSA", "RSA"] = "ECDSA", **changes: str) -> Any:
    pair = canary_key_pair(kind)
    return rig.build(**cdn_settings(edge, pair.key_pair_id, key_secret(rig, pair.private_pem)), **changes)


def get(handle: Any, event: Callable[..., Any], name: str = "http_api_get.json", task_id: str = TASK) -> Any:
    return handle(event(name, task_id=task_id), LocalLambdaContext())


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def max_age(response: dict[str, Any]) -> int:
    return int(response["headers"]["Cache-Control"].removeprefix("private, max-age="))


def play(url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, headers=headers, redirect=False, timeout=10, retries=False)


@pytest.mark.parametrize("kind", KINDS)
def test_an_archived_task_redirects_to_a_cloudfront_link_that_plays_the_copy(
    archive_rig: ArchiveRig,
    edge: Edge,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    leak_watch: LeakWatch,
    kind: Literal["ECDSA", "RSA"],
) -> None:
    # Given a copy in the archive and the request path signing with this kind of key
    archived(archive_rig)
    handle = cdn_service(archive_rig, edge, kind).handle

    # When the task is asked for
    before = time.time()
    response = get(handle, event)
    line = log_lines.last("request done")
    leak_watch.response("302", response["statusCode"], response["headers"], response["body"])

    # Then it is a 302 to the distribution's domain, the object's key as the path, signed with SHA-256
    assert response["statusCode"] == 302
    location = response["headers"]["Location"]
    assert location.startswith(f"http://{edge.domain}/{archive_rig.key(TASK)}?Expires=")
    params = query(location)
    assert list(params) == ["Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"]
    assert (params["Key-Pair-Id"], params["Hash-Algorithm"]) == (canary_key_pair(kind).key_pair_id, "SHA256")
    assert before + LINK_SECONDS - 1 <= int(params["Expires"]) <= time.time() + LINK_SECONDS
    # and the stand-in, checking it as CloudFront does, plays the exact bytes, and a range of them
    played = play(location)
    assert (played.status, sha256(played.data)) == (200, sha256(VIDEO))
    ranged = play(location, Range="bytes=4-7")
    assert (ranged.status, ranged.data, ranged.headers["Content-Range"]) == (
        206,
        b"ftyp",
        f"bytes 4-7/{len(VIDEO)}",
    )
    # The JSON answer is the same link, with its expiry; the aggregator was not asked
    document = json.loads(get(handle, event, "http_api_get_json.json")["body"])
    assert (document["url"], document["source"]) == (location, "archive")
    expires_at = datetime.fromtimestamp(int(params["Expires"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert document["expires_at"] == expires_at
    assert aggregator.requests == []
    # The log shows the link without its signature (Expires kept, the rest redacted)
    assert (line["source"], line["archive"]) == ("archive", "hit")
    prefix = f"http://{edge.domain}/{archive_rig.key(TASK)}"
    expires = params["Expires"]
    assert (
        line["video_url"]
        == f"{prefix}?Expires={expires}&Signature=REDACTED&Key-Pair-Id=REDACTED&Hash-Algorithm=REDACTED"
    )
    assert params["Signature"] not in log_lines.text


def test_cache_control_and_the_link_cache_count_down_to_the_link_s_expires(
    archive_rig: ArchiveRig, edge: Edge, event: Callable[..., Any]
) -> None:
    archived(archive_rig)
    handle = cdn_service(archive_rig, edge).handle

    before = time.time()
    first = get(handle, event)
    after = time.time()
    expires = int(query(first["headers"]["Location"])["Expires"])
    # max-age: what is left until Expires, less the margin (counted after the link was made)
    assert expires - after - MARGIN - 1 <= max_age(first) <= expires - before - MARGIN

    time.sleep(1.1)  # a whole second later
    second = get(handle, event)

    # The link cache answers the same link, and its max-age has counted down towards the same Expires
    assert second["headers"]["Location"] == first["headers"]["Location"]
    assert max_age(second) <= max_age(first) - 1
    assert max_age(second) >= expires - time.time() - MARGIN - 1


def test_the_key_is_read_once_per_container(
    archive_rig: ArchiveRig, edge: Edge, event: Callable[..., Any], secret_reads: list[str]
) -> None:
    # Given three archived tasks, and a container without a link cache (each request signs a link)
    tasks = [f"{TASK[:-1]}{n}" for n in range(3)]
    for task_id in tasks:
        archived(archive_rig, task_id)
    pair = canary_key_pair("RSA")
    secret_id = key_secret(archive_rig, pair.private_pem)
    service = archive_rig.build(**cdn_settings(edge, pair.key_pair_id, secret_id), URL_CACHE_MAX_ENTRIES="0")

    # When each is asked for twice
    locations = [get(service.handle, event, task_id=t)["headers"]["Location"] for t in tasks * 2]

    # Then the key was read once (the token not at all: no aggregator call), and every link plays
    assert secret_reads == [secret_id]
    # one object per task (the links themselves differ when a second boundary moves Expires)
    assert {urlsplit(location).path for location in locations} == {f"/luma/{t}.mp4" for t in tasks}
    for location in locations[: len(tasks)]:
        assert play(location).status == 200


def truncated(pem: str) -> str:
    """The PEM with its last base64 line lost, as a paste cut short leaves it."""
    lines = pem.strip().splitlines()
    return "\n".join([*lines[:-2], lines[-1]]) + "\n"


# What the key's secret may hold instead of a key CloudFront takes (None: there is no such secret), and
# what the log then says. Every kind of refused key: tests/unit/archive/test_cdn_links.py.
BAD_KEYS: dict[str, tuple[Callable[[], str | None], str]] = {
    "missing secret": (lambda: None, "CloudFront key secret could not be read (ResourceNotFoundException)"),
    "truncated PEM": (
        lambda: truncated(canary_key_pair("ECDSA").private_pem),
        "CloudFront private key: not an unencrypted PEM private key",
    ),
    "PEM in a JSON object": (
        lambda: json.dumps({"private_key": canary_key_pair("RSA").private_pem}),
        "CloudFront key secret holds JSON",
    ),
    "the public half": (
        lambda: canary_key_pair("ECDSA").public_pem,
        "CloudFront private key: not an unencrypted PEM private key",
    ),
    "encrypted PEM": (
        lambda: UNUSABLE["encrypted"],
        "CloudFront private key: not an unencrypted PEM private key",
    ),
    "DSA key": (lambda: UNUSABLE["DSA"], "CloudFront signs with RSA 2048 or ECDSA P-256 keys; this is DSA"),
    "ECDSA P-384": (lambda: UNUSABLE["ECDSA P-384"], "; this is ECDSA secp384r1"),
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_a_key_that_cannot_sign_is_misconfigured_with_no_key_material_anywhere(
    archive_rig: ArchiveRig,
    edge: Edge,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
    leak_watch: LeakWatch,
    case: str,
) -> None:
    # Given a copy, and the key's secret missing or holding something CloudFront cannot take
    make, detail = BAD_KEYS[case]
    value = make()
    secret_id = "luma/no-such-cdn-key" if value is None else key_secret(archive_rig, value)
    if value is not None:
        leak_watch.private_key(value)
    archived(archive_rig)
    completed_with_file(aggregator)  # the aggregator could answer: a broken key is not hidden behind it
    handle = archive_rig.build(**cdn_settings(edge, "KCANARYECDSA", secret_id)).handle

    # When the task is asked for, over HTTP (twice: the failure is not cached as anything else) and directly
    responses = [get(handle, event) for _ in range(2)]
    with pytest.raises(ConfigurationError) as raised:
        handle(event("direct_invoke.json"), LocalLambdaContext())

    # Then each is the public contract's 500 misconfigured, never a crash; the log says what is wrong
    for response in responses:
        leak_watch.response(case, response["statusCode"], response["headers"], response["body"])
        assert response["statusCode"] == 500
        assert json.loads(response["body"]) == {
            "error": {
                "code": "misconfigured",
                "message": ConfigurationError.PUBLIC_MESSAGE,
                "request_id": event("http_api_get.json")["requestContext"]["requestId"],
            }
        }
    leak_watch.exception("direct invoke", raised.value)
    assert raised.value.__cause__ is None
    line = log_lines.last("request done")
    assert (line["outcome"], line["front_door"]) == ("misconfigured", "direct")
    assert detail in line["detail"]
    assert aggregator.requests == []
    assert all(line["outcome"] == "misconfigured" for line in log_lines.records() if "outcome" in line)


def test_a_passing_secrets_manager_fault_falls_back_to_the_aggregator_then_the_key_is_read(
    archive_rig: ArchiveRig,
    edge: Edge,
    aggregator: Aggregator,
    event: Callable[..., Any],
    log_lines: LogLines,
) -> None:
    # Given a copy, and a Secrets Manager that throttles the first key read (both SDK attempts)
    archived(archive_rig)
    file_path = completed_with_file(aggregator)
    faulty = FaultyAws(forward_to=archive_rig.aws.endpoint).start()
    try:
        client = boto3.client(
            "secretsmanager", endpoint_url=faulty.endpoint, config=archive_rig.function.SECRETS_CONFIG
        )
        pair = canary_key_pair("ECDSA")
        secret_id = key_secret(archive_rig, pair.private_pem)
        env = {
            **archive_rig.env,
            **cdn_settings(edge, pair.key_pair_id, secret_id),
            "URL_CACHE_MAX_ENTRIES": "0",
        }
        handle = archive_rig.function.build_service(
            env,
            pool=archive_rig.function.pool,
            secrets=SecretsProvider(boto3_client=client),
            archive=archive_rig.function.archive_clients(env),
        ).handle
        faulty.script(THROTTLED, THROTTLED)

        # When the task is asked for: the copy cannot be linked to yet, the aggregator's link can
        first = get(handle, event)
        assert (first["statusCode"], urlsplit(first["headers"]["Location"]).path) == (302, file_path)
        line = log_lines.last("request done")
        assert (line["source"], line["archive"]) == ("aggregator", "unavailable")
        assert line["detail"].startswith(
            "archive link failed: GetSecretValue (CloudFront key): ThrottlingException"
        )

        # Then, Secrets Manager back, the next request reads the key and answers the copy's CloudFront link
        second = get(handle, event)
        assert second["headers"]["Location"].startswith(f"http://{edge.domain}/")
        assert faulty.reads.count(secret_id) == 3
    finally:
        faulty.stop()


def test_the_worker_keeps_presigned_s3_links_and_the_request_path_s_direct_invoke_signs_cloudfront_ones(
    archive_rig: ArchiveRig, edge: Edge
) -> None:
    archived(archive_rig)
    worker = archive_rig.build()  # the template gives the worker no ARCHIVE_CDN_* variables
    request_path = cdn_service(archive_rig, edge)

    from_worker = worker.handle({"task_id": TASK, "archive": True}, LocalLambdaContext())
    from_request_path = request_path.handle({"task_id": TASK, "archive": True}, LocalLambdaContext())

    assert "X-Amz-Signature" in query(from_worker["url"])
    assert fetch(from_worker["url"]) == (200, VIDEO)
    assert from_request_path["url"].startswith(f"http://{edge.domain}/{archive_rig.key(TASK)}?Expires=")
    assert fetch(from_request_path["url"]) == (200, VIDEO)
    # the same copy either way
    assert from_worker["s3_uri"] == from_request_path["s3_uri"]


PROBE = """
import json, sys
import handler
from local.lambda_context import LocalLambdaContext
loaded = ["cryptography" in sys.modules]
answer = handler.lambda_handler(json.loads(sys.stdin.read()), LocalLambdaContext())
loaded.append("cryptography" in sys.modules)
print("PROBE " + json.dumps({"loaded": loaded, "status": answer["statusCode"]}))
"""


@pytest.mark.parametrize(("cdn", "loaded"), [(False, [False, False]), (True, [False, True])])
def test_cryptography_loads_only_with_the_cdn_and_only_at_the_first_archive_hit(
    archive_rig: ArchiveRig,
    edge: Edge,
    event: Callable[..., Any],
    leak_watch: LeakWatch,
    cdn: bool,
    loaded: list[bool],
) -> None:
    """A fresh container: importing the handler (init) never loads cryptography; with ARCHIVE_CDN_DOMAIN
    the first link to a copy does, when the key is read and the signer built."""
    archived(archive_rig)
    settings = {}
    if cdn:
        pair = canary_key_pair("ECDSA")
        settings = cdn_settings(edge, pair.key_pair_id, key_secret(archive_rig, pair.private_pem))
    env = {
        **os.environ,
        **archive_rig.env,
        **settings,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }

    child = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(event("http_api_get.json")),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )

    leak_watch.text("the child's stdout", child.stdout)
    leak_watch.text("the child's stderr", child.stderr)
    (probe,) = [line for line in child.stdout.splitlines() if line.startswith("PROBE ")]
    assert json.loads(probe.removeprefix("PROBE ")) == {"loaded": loaded, "status": 302}
