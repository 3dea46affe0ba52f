"""Handing out an archive link: an S3 presign beside CloudFront's ECDSA P-256 and RSA 2048 signatures.

The request path makes a copy's link with ``archive.store.link_to(archive, copy, deadline)``: S3 presigns
when the archive has no CDN, else ``SigningKey.link`` signs a canned policy with the private key it reads
from Secrets Manager on the first link (``cryptography`` imported, the PEM loaded, the signer built
then, and kept). Both children build the archive as ``handler.with_archive`` does, from the clients
``handler`` builds at init (``archive_clients``, the Secrets Manager provider), before any clock starts.

- ``python -m bench.links first KIND OUT.json``: one fresh process, one first link (KIND: s3, ecdsa,
  rsa), as on a container whose first request is an archive hit: for CloudFront it includes the
  ``GetSecretValue`` call (to moto on loopback, the first call of that client), timed on its own by
  botocore event hooks, so the rest (import, load, build, sign) is the total less that call.
- ``python -m bench.links cached CONFIG.json OUT.json``: one process, the three contenders warmed by one
  link each, then interleaved as the warm phase interleaves (``bench.warm.interleave``), each call the
  real ``link_to`` with a new ``Deadline``; bounded in iterations and in time.

``links_phase`` (called by ``bench.run``) starts them: rounds of fresh processes, the contenders in
turn, after one discarded round; then the cached child. ``put_signing_keys`` puts the PEMs the
CloudFront contenders read into the embedded Secrets Manager.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from bench.common import median
from bench.figures import LINK_KINDS
from bench.warm import Call, Prepare, interleave

if TYPE_CHECKING:
    from local.aws import EmbeddedAws
    from luma_download.archive.store import Archive

# Not local.edge's demo id: importing local.edge imports cryptography, which the first link must pay.
KEY_PAIR_ID = "KBENCHLINKS"
CDN_DOMAIN = "d111111abcdef8.cloudfront.net"
BUCKET = "bench-links"
TASK_ID = "links-00001"
SECRET_IDS = {"ecdsa": "luma/bench-cdn-key-ecdsa", "rsa": "luma/bench-cdn-key-rsa"}
KEY_TYPES: dict[str, Literal["ECDSA", "RSA"]] = {"ecdsa": "ECDSA", "rsa": "RSA"}
# The GetSecretValue call as botocore makes it: from building its parameters to the parsed answer.
CALL_STARTS = "before-parameter-build.secrets-manager.GetSecretValue"
CALL_ENDS = "after-call.secrets-manager.GetSecretValue"

Run = Callable[[list[str], dict[str, str], float], str]  # bench.run.run_child


def put_signing_keys(aws: EmbeddedAws) -> None:
    """One fresh key pair per CloudFront contender; its private half (PEM) as a plaintext secret."""
    from local.edge import demo_key_pair  # noqa: PLC0415

    secrets = aws.client("secretsmanager")
    for kind, secret_id in SECRET_IDS.items():
        pem = demo_key_pair(KEY_TYPES[kind], KEY_PAIR_ID).private_pem
        secrets.create_secret(Name=secret_id, SecretString=pem)


def links_phase(runs: int, iterations: int, env: dict[str, str], run: Run) -> dict[str, Any]:
    """``runs`` fresh processes per contender, in turn, after one discarded round; then the cached hits."""
    first: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LINK_KINDS}
    with tempfile.TemporaryDirectory(prefix="bench-links-") as scratch_name:
        scratch = Path(scratch_name)
        out, config = scratch / "out.json", scratch / "config.json"
        for round_number in range(-1, runs):
            turn = round_number % len(LINK_KINDS)
            for kind in LINK_KINDS[turn:] + LINK_KINDS[:turn]:
                run(["-m", "bench.links", "first", kind, str(out)], env, 60)
                if round_number >= 0:  # round -1 only warms the page cache and the bytecode
                    first[kind].append(json.loads(out.read_text()))
        config.write_text(json.dumps({"warmup": 100, "iterations": iterations, "max_seconds": 60}))
        run(["-m", "bench.links", "cached", str(config), str(out)], env, 120)
        cached = json.loads(out.read_text())
    return {"first": first, "cached": cached}


def build_archive(kind: str) -> Archive:
    """The archive as ``handler.with_archive`` builds it, on the clients ``handler`` made at init."""
    import handler  # noqa: PLC0415
    from luma_download.archive.store import Archive  # noqa: PLC0415
    from luma_download.settings import ARCHIVE_LINK_SECONDS, DEFAULT_ARCHIVE_PREFIX  # noqa: PLC0415

    clients = handler.archive_clients({"ARCHIVE_BUCKET": BUCKET})
    if clients is None or handler.secrets is None:
        raise RuntimeError("no AWS region: bench.run gives its children moto's variables")
    cdn = None
    if kind != "s3":
        # Imported at init where CloudFront is on (handler.with_archive); cryptography is not.
        from luma_download.archive.cdn_links import SigningKey  # noqa: PLC0415

        cdn = SigningKey(handler.secrets, SECRET_IDS[kind], KEY_PAIR_ID, CDN_DOMAIN)
    return Archive(
        clients.s3,
        BUCKET,
        DEFAULT_ARCHIVE_PREFIX,
        ARCHIVE_LINK_SECONDS.default,
        clients.credentials,
        cdn,
    )


def check_link(kind: str, url: str) -> None:
    """The link is the contender's own: S3's presign, or CloudFront's signed with the kind's key."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if kind == "s3":
        ok = "X-Amz-Signature" in query and parts.path.endswith(f"/{TASK_ID}.mp4")
    else:
        signature = query.get("Signature", [""])[0]
        # An RSA 2048 signature is 256 bytes (344 in base64); an ECDSA P-256 one in DER about 71.
        ok = (
            parts.netloc == CDN_DOMAIN
            and query.get("Key-Pair-Id") == [KEY_PAIR_ID]
            and query.get("Hash-Algorithm") == ["SHA256"]
            and (len(signature) > 300) == (kind == "rsa")
        )
    if not ok:
        raise RuntimeError(f"{kind}: not the link expected: {parts.netloc}{parts.path}?{sorted(query)}")


def secret_calls(kind: str) -> list[float]:
    """The clock at each GetSecretValue call's start and end (the provider's client, any thread)."""
    import handler  # noqa: PLC0415

    clock: list[float] = []
    if handler.secrets is not None:
        events = handler.secrets.client.meta.events
        events.register(CALL_STARTS, lambda **_: clock.append(time.perf_counter()), f"bench-{kind}-start")
        events.register(CALL_ENDS, lambda **_: clock.append(time.perf_counter()), f"bench-{kind}-end")
    return clock


def first(kind: str, out_path: str) -> int:
    """One first link in this fresh process; writes its total and the GetSecretValue call's share."""
    archive = build_archive(kind)
    from luma_download.archive.store import link_to  # noqa: PLC0415
    from luma_download.model import DEFAULT_BUDGET_SECONDS, Deadline, StoredCopy  # noqa: PLC0415

    if "cryptography" in sys.modules:
        raise RuntimeError("cryptography was imported before the first link: it would not be timed")
    clock = secret_calls(kind)
    copy = StoredCopy(TASK_ID, BUCKET, archive.key(TASK_ID), 1)
    deadline = Deadline(DEFAULT_BUDGET_SECONDS)
    started = time.perf_counter()
    link = link_to(archive, copy, deadline)
    total = time.perf_counter() - started
    check_link(kind, link.url)
    if len(clock) != (0 if kind == "s3" else 2):  # the key comes through the real read, once
        raise RuntimeError(f"{kind}: {len(clock) // 2} GetSecretValue calls in the first link")
    secret = sum(end - start for start, end in zip(clock[::2], clock[1::2], strict=True))
    result = {"kind": kind, "total_s": total, "secret_s": secret, "secret_calls": len(clock) // 2}
    Path(out_path).write_text(json.dumps(result))
    return 0


def cached(config_path: str, out_path: str) -> int:
    """The three contenders warmed, then interleaved: µs per ``link_to`` with a new ``Deadline``."""
    config = json.loads(Path(config_path).read_text())
    archives = {kind: build_archive(kind) for kind in LINK_KINDS}
    from luma_download.archive.store import link_to  # noqa: PLC0415
    from luma_download.model import DEFAULT_BUDGET_SECONDS, Deadline, StoredCopy  # noqa: PLC0415

    copy = StoredCopy(TASK_ID, BUCKET, archives["s3"].key(TASK_ID), 1)
    for kind, archive in archives.items():  # the first links: the keys read, the signers built
        check_link(kind, link_to(archive, copy, Deadline(DEFAULT_BUDGET_SECONDS)).url)
    clock = secret_calls("cached")
    last: dict[str, str] = {}

    def contender(kind: str) -> tuple[Prepare, int]:
        def prepare() -> Call:
            archive, deadline = archives[kind], Deadline(DEFAULT_BUDGET_SECONDS)  # before the clock

            def call() -> int:
                last[kind] = link_to(archive, copy, deadline).url
                return 0

            return call

        return prepare, 0

    timed = interleave(
        {kind: contender(kind) for kind in LINK_KINDS},
        warmup=int(config["warmup"]),
        iterations=int(config["iterations"]),
        deadline=time.monotonic() + float(config["max_seconds"]),
    )
    for kind, url in last.items():
        check_link(kind, url)
    result = {
        "samples_ns": timed.samples_ns,
        "iterations": timed.iterations,
        "secret_calls": len(clock) // 2,  # none expected: the key is kept
        "sign_us": {kind: signature_us(kind, last[kind]) for kind in SECRET_IDS},
    }
    Path(out_path).write_text(json.dumps(result))
    return 0


def signature_us(kind: str, url: str) -> float:
    """The signature alone: the signing function the real path builds from the same secret, over the
    canned policy of a link like ``url``, in a tight loop (median of 7 repeats, µs per call)."""
    from botocore.signers import CloudFrontSigner  # noqa: PLC0415

    import handler  # noqa: PLC0415

    # The module's own key loading (private): the bench times the very function links are signed with.
    from luma_download.archive.cdn_links import _signing_function  # noqa: PLC0415

    if handler.secrets is None:
        raise RuntimeError("no AWS region: bench.run gives its children moto's variables")
    _, sign = _signing_function(str(handler.secrets.get(SECRET_IDS[kind])))
    expires = datetime.fromtimestamp(int(parse_qs(urlsplit(url).query)["Expires"][0]), UTC)
    resource = url.split("?", 1)[0]
    policy = CloudFrontSigner(KEY_PAIR_ID, sign).build_policy(resource, expires).encode()
    number = 200
    return median(timeit.repeat(lambda: sign(policy), number=number, repeat=7)) / number * 1e6


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "first" and argv[1] in LINK_KINDS:
        return first(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "cached":
        return cached(argv[1], argv[2])
    print(
        "usage: python -m bench.links first s3|ecdsa|rsa OUT.json | cached CONFIG.json OUT.json",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
