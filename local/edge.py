"""CloudFront on loopback: what a distribution with a key group does with a signed URL, in front of the
embedded S3 (``local/aws.py``).

For the archive's CloudFront links (``luma_download.archive.cdn_links``) in the integration tests and,
later, ``make run``. Each request is checked as CloudFront checks one with a canned policy:

- ``Key-Pair-Id`` names a public key of the key group (``public_keys``, id to PEM, as uploaded);
- ``Hash-Algorithm`` is ``SHA256``, or ``SHA1`` or absent for SHA-1: CloudFront still takes its legacy
  default, so the stand-in does too (a SHA-256 signature stripped of the parameter then fails to verify);
- ``Signature`` (URL-safe base64: ``-`` ``_`` ``~`` for ``+`` ``=`` ``/``) verifies with that key (RSA
  PKCS#1 v1.5, or ECDSA in DER) over the canned policy for the URL as requested, with the host it was
  sent to and without the signing parameters (``Expires``, ``Signature``, ``Key-Pair-Id``,
  ``Hash-Algorithm``);
- ``Expires`` has not come yet.

Anything else is 403 with a small XML body saying which check failed; custom policies (``Policy=``) are
not played. Then the object ``<origin_prefix><the path, percent-decoded>`` comes from the bucket by S3's
own GetObject (HeadObject for HEAD), answered with S3's status, ``Content-Type``, ``ETag`` and
``Last-Modified``. One byte range goes to S3 as CloudFront forwards it (206 with ``Content-Range``, 416
when it starts past the end); any other ``Range`` is ignored, as S3 ignores it (200, the whole object).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from local.aws import EmbeddedAws

DEMO_KEY_PAIR_ID = "KLOCALEDGEDEMO"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA256": hashes.SHA256, "SHA1": hashes.SHA1}
_SIGNING_PARAMS = ("Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm", "Policy")
_URL_SAFE_B64 = str.maketrans("-_~", "+=/")
# One range, with at least one bound: all S3 honours (moto answers 500 to anything it cannot split).
_ONE_RANGE = re.compile(r"bytes=(?:[0-9]+-[0-9]*|-[0-9]+)", re.ASCII)
_WRITE_CHUNK = 1024 * 1024

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class KeyPair:
    """A CloudFront key pair: the id of the public key in the key group, and both halves as PEM."""

    key_pair_id: str
    private_pem: str
    public_pem: str


def demo_key_pair(kind: Literal["ECDSA", "RSA"] = "ECDSA", key_pair_id: str = DEMO_KEY_PAIR_ID) -> KeyPair:
    """A fresh key pair of a kind CloudFront accepts (ECDSA P-256, or RSA 2048: a few tens of ms more)."""
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ECDSA"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(key_pair_id, private_pem.decode(), public_pem.decode())


class Edge:
    """``start()``; links signed for ``domain`` over ``http`` then play from ``bucket``; ``stop()``."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        public_keys: Mapping[str, str],
        *,
        origin_prefix: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.origin_prefix = origin_prefix
        self._keys = {key_id: _public_key(pem) for key_id, pem in public_keys.items()}
        self._host = host
        self._server = _EdgeServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def domain(self) -> str:
        """What ``cdn_links.from_pem`` takes as the distribution's domain (with ``scheme="http"``)."""
        return f"{self._host}:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.domain}"

    def start(self) -> Edge:
        self._thread = threading.Thread(target=self._server.serve_forever, name="edge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refusal(self, url: str, now: float) -> str | None:
        """Why CloudFront would refuse ``url`` (as requested, host included) at ``now``; ``None`` if not."""
        base, _, query = url.partition("?")
        signing: dict[str, str] = {}
        rest: list[str] = []  # the viewer's own parameters stay in the signed resource, in order
        for field in query.split("&") if query else ():
            name, _, value = field.partition("=")
            if name not in _SIGNING_PARAMS:
                rest.append(field)
            elif name in signing:
                return f"{name} given twice"
            else:
                signing[name] = value
        if "Policy" in signing:
            return "custom policies are not played by this stand-in"
        missing = [name for name in _SIGNING_PARAMS[:3] if name not in signing]
        if missing:
            return "missing " + ", ".join(missing)
        public_key = self._keys.get(signing["Key-Pair-Id"])
        if public_key is None:
            return "unknown Key-Pair-Id"
        algorithm = _HASHES.get(signing.get("Hash-Algorithm", "SHA1"))
        if algorithm is None:
            return "Hash-Algorithm must be SHA256 or SHA1"
        if not signing["Expires"].isdigit():
            return "Expires is not epoch seconds"
        expires = int(signing["Expires"])
        resource = f"{base}?{'&'.join(rest)}" if rest else base
        statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
        policy = json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()
        if not _verifies(public_key, signing["Signature"], policy, algorithm()):
            return "the signature does not match the URL"
        if now >= expires:
            return "the link has expired"
        return None


class _EdgeServer(ThreadingHTTPServer):
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a player that hangs up mid-video is normal


def start_edge(
    aws: EmbeddedAws, bucket: str, public_keys: Mapping[str, str], *, origin_prefix: str = ""
) -> Edge:
    """The stand-in in front of ``bucket`` of the embedded S3, started on a free loopback port."""
    return Edge(aws.client("s3"), bucket, public_keys, origin_prefix=origin_prefix).start()


def _public_key(pem: str) -> PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048:
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("CloudFront takes RSA 2048 and ECDSA P-256 public keys only")


def _verifies(key: PublicKey, signature: str, policy: bytes, algorithm: hashes.HashAlgorithm) -> bool:
    try:
        raw = base64.b64decode(signature.translate(_URL_SAFE_B64), validate=True)
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, policy, padding.PKCS1v15(), algorithm)
        else:
            key.verify(raw, policy, ec.ECDSA(algorithm))
    except (binascii.Error, InvalidSignature):
        return False
    return True


def _handler_for(edge: Edge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _serve(self, *, head: bool) -> None:
            reason = edge.refusal(f"http://{self.headers.get('Host', '')}{self.path}", time.time())
            if reason is not None:
                self._error(403, "AccessDenied", reason, head=head)
                return
            key = edge.origin_prefix + unquote(urlsplit(self.path).path.removeprefix("/"))
            wanted = self.headers.get("Range", "").strip()
            options = {"Range": wanted} if _ONE_RANGE.fullmatch(wanted) else {}
            read = edge.s3.head_object if head else edge.s3.get_object
            try:
                found = read(Bucket=edge.bucket, Key=key, **options) if key else None
            except ClientError as exc:
                self._origin_error(exc, head=head)
                return
            except BotoCoreError:
                self._error(502, "OriginError", "the origin could not be reached", head=head)
                return
            if found is None:
                self._error(404, "NoSuchKey", "no object at this path", head=head)
                return
            self._send_object(found, head=head)

        def _send_object(self, found: dict[str, Any], *, head: bool) -> None:
            headers = {
                "Content-Type": found.get("ContentType", "binary/octet-stream"),
                "Content-Length": str(found["ContentLength"]),
                "Accept-Ranges": "bytes",
                "ETag": found.get("ETag"),
                "Content-Range": found.get("ContentRange"),
                "Last-Modified": format_datetime(found["LastModified"].astimezone(UTC), usegmt=True)
                if "LastModified" in found
                else None,
            }
            body = found.get("Body")
            try:
                self.send_response(found["ResponseMetadata"]["HTTPStatusCode"])  # 200, or 206 for a range
                for name, value in headers.items():
                    if value is not None:
                        self.send_header(name, value)
                self.end_headers()
                if body is not None:
                    for chunk in body.iter_chunks(_WRITE_CHUNK):
                        self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the player hung up
            finally:
                if body is not None:
                    body.close()

        def _origin_error(self, exc: ClientError, *, head: bool) -> None:
            # CloudFront hands on S3's 403, 404 and 416; anything else from its origin is its own 502.
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 502))
            error: dict[str, Any] = dict(exc.response.get("Error", {}))
            headers = {}
            if status == 416 and "ActualObjectSize" in error:
                headers["Content-Range"] = f"bytes */{error['ActualObjectSize']}"
            if status not in (403, 404, 416):
                status = 502
            code = str(error.get("Code", "OriginError"))
            self._error(status, code, str(error.get("Message", "the origin failed")), head=head, **headers)

        def _error(self, status: int, code: str, message: str, *, head: bool, **headers: str) -> None:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message><RequestId>{uuid.uuid4().hex}</RequestId></Error>"
            ).encode()
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "text/xml", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line holds the signature

    return Handler
