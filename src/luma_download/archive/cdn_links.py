"""CloudFront signed URLs to the archive's copies: a canned policy, signed over SHA-256.

A link is ``https://<domain>/<key>?Expires=<epoch>&Signature=<...>&Key-Pair-Id=<id>&Hash-Algorithm=SHA256``
(AWS, "Create a signed URL using a canned policy"). botocore's ``CloudFrontSigner`` (public, the one
boto3 documents) builds the canned policy in the order CloudFront requires, the URL-safe base64 and
the first three parameters. It predates SHA-256 signing, so it has no ``Hash-Algorithm``: the hashing
is in the signing function it is handed, and this module appends the parameter, last, as AWS's example
has it. A botocore that grows the parameter itself would double it; the URL's shape is pinned by
``tests/unit/archive/test_cdn_links.py``.

The key (RSA 2048 or ECDSA P-256, the two CloudFront accepts) is read once, when the signer is built.
``cryptography`` is imported only then: a stack without CloudFront never loads it. A key that cannot
serve is a ``ConfigurationError`` whose detail names only what is wrong (its type, curve or size):
never the key, and with no chained exception that could carry it.

On the request path the key comes from Secrets Manager (``SigningKey``): read on the first link asked
for, through the cached, deadline-bounded reading the token uses (``luma_download.secret_reading``), once
per container; the signer is built from it then and reused while the secret's value is the same object.

The expiry is the caller's ``expires_at``, carried as ``Expires`` (epoch seconds), where
``url_rules.link_facts`` reads it back with the link's log form as for any presigned link: the
``Cache-Control`` and link cache count down to it. Unlike an S3 presigned link, nothing else cuts it
short: CloudFront's signature does not depend on the function role's temporary credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from botocore.signers import CloudFrontSigner

from luma_download.errors import ConfigurationError
from luma_download.model import Deadline
from luma_download.secret_reading import SecretReader
from luma_download.url_rules import is_loopback_host

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters.base import BaseProvider

KeyType = Literal["RSA", "ECDSA"]
HASH_ALGORITHM = "SHA256"
# CloudFront's public key ids (K2JCJMDEHXQW5F) and the legacy root key pairs' (APKA...).
_KEY_PAIR_ID = re.compile(r"[A-Z0-9]{1,64}", re.ASCII)
# A host name or IPv4 address, and a port (the loopback stand-in has one): nothing else in the authority.
_DOMAIN = re.compile(r"([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::[0-9]{1,5})?", re.ASCII)
_RSA_BITS = 2048
_SUPPORTED = "CloudFront signs with RSA 2048 or ECDSA P-256 keys"
# The key is read once per container: no container lives this long. A new key pair means a new
# ARCHIVE_CDN_KEY_ID, so a redeploy, so new containers: re-reading the secret could find nothing new.
KEY_MAX_AGE_SECONDS = 365 * 24 * 3600


class CdnLinks:
    """Signed links to objects behind one CloudFront distribution; built once by ``from_pem``.

    No per-request state: one instance serves every request and thread of a container.
    """

    __slots__ = ("_base_url", "_signer", "key_pair_id", "key_type")

    def __init__(
        self, key_pair_id: str, key_type: KeyType, base_url: str, sign: Callable[[bytes], bytes]
    ) -> None:
        self.key_pair_id = key_pair_id
        self.key_type: KeyType = key_type
        self._base_url = base_url
        self._signer = CloudFrontSigner(key_pair_id, sign)

    def link(self, key: str, expires_at: int) -> str:
        """A signed URL to object ``key`` that CloudFront honours until ``expires_at`` (epoch seconds)."""
        moment = datetime.fromtimestamp(expires_at, UTC)
        signed = self._signer.generate_presigned_url(self._base_url + _path(key), date_less_than=moment)
        return f"{signed}&Hash-Algorithm={HASH_ALGORITHM}"


class SigningKey:
    """Links signed with the private key in a secret, read on the first link asked for, then kept.

    One instance per container; the threads of a batch share its one read (``SecretReader``). A value
    that cannot sign is not kept: the next link reads the secret again, past every cache, so a fixed
    secret serves without a redeploy (a misconfigured stack pays one ``GetSecretValue`` per request,
    as with a missing secret, which no cache holds).
    """

    __slots__ = ("_built", "_domain", "_key_pair_id", "_refused", "_secret")

    def __init__(self, provider: BaseProvider, secret_id: str, key_pair_id: str, domain: str) -> None:
        self._secret = SecretReader(provider, secret_id, KEY_MAX_AGE_SECONDS, what="CloudFront key")
        self._key_pair_id = key_pair_id
        self._domain = domain
        # The secret's value last turned into a signer, and that signer.
        self._built: tuple[object, CdnLinks] | None = None
        self._refused = False  # the last value read could not sign

    def link(self, key: str, expires_at: int, deadline: Deadline) -> str:
        """``CdnLinks.link``; the first call reads the key before ``deadline``.

        Raises ``ConfigurationError`` (no secret, not a PEM private key, a key CloudFront does not take),
        or the secret's passing faults (``UpstreamUnavailableError``, ``UpstreamTimeoutError``).
        """
        secret = self._secret
        raw = secret.read(deadline, force_fetch=True) if self._refused else secret.get(deadline)
        built = self._built
        if built is None or built[0] is not raw:
            try:
                built = (raw, self._signer(raw))
            except ConfigurationError:
                self._refused = True
                raise
            self._built, self._refused = built, False
        return built[1].link(key, expires_at)

    def _signer(self, raw: object) -> CdnLinks:
        if not isinstance(raw, str | bytes):
            raise ConfigurationError("CloudFront key secret is empty")
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        if text.lstrip().startswith("{"):  # the console's key/value form stores JSON
            raise ConfigurationError(
                "CloudFront key secret holds JSON: store the PEM private key itself as its plaintext"
            )
        # The loopback stand-in of CloudFront (local/edge.py) speaks plain http; settings allow no other.
        host = self._domain.split(":", 1)[0]
        scheme: Literal["https", "http"] = "http" if is_loopback_host(host) else "https"
        return from_pem(raw, self._key_pair_id, self._domain, scheme=scheme)


def from_pem(
    private_key_pem: str | bytes,
    key_pair_id: str,
    domain: str,
    *,
    scheme: Literal["https", "http"] = "https",
) -> CdnLinks:
    """A signer for ``<scheme>://<domain>/<key>`` links with this key; ``ConfigurationError`` if unusable.

    ``http`` is for the loopback stand-in of CloudFront (``local/edge.py``) only: refused elsewhere.
    No value given is repeated in an error: a PEM pasted into the wrong variable must not reach a log.
    """
    if not _KEY_PAIR_ID.fullmatch(key_pair_id):
        raise ConfigurationError("CloudFront key pair id: must be 1 to 64 of A-Z and 0-9 (K2JCJMDEHXQW5F)")
    domain = domain.lower()
    authority = _DOMAIN.fullmatch(domain)
    if authority is None:
        raise ConfigurationError(
            "CloudFront domain: must be a host name (d111111abcdef8.cloudfront.net, or the distribution's "
            "alias), with no scheme, path or credentials"
        )
    if scheme != "https" and not is_loopback_host(authority[1]):
        raise ConfigurationError("CloudFront links: plain http only to a loopback host (the local stand-in)")
    key_type, sign = _signing_function(private_key_pem)
    return CdnLinks(key_pair_id, key_type, f"{scheme}://{domain}/", sign)


def _signing_function(private_key_pem: str | bytes) -> tuple[KeyType, Callable[[bytes], bytes]]:
    """The key's type, and a function signing a policy with it over SHA-256."""
    # Here, not at the top: only a container that signs CloudFront links loads cryptography.
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: PLC0415

    try:
        data = private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # not PEM, encrypted, an unknown algorithm
        key = None
    # Raised outside the except clause: no chained exception (a UnicodeEncodeError holds the whole text).
    if key is None:
        raise ConfigurationError(
            "CloudFront private key: not an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- "
            "or -----BEGIN RSA/EC PRIVATE KEY-----)"
        )
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size != _RSA_BITS:
            raise ConfigurationError(f"CloudFront private key: {_SUPPORTED}; this is RSA {key.key_size}")
        rsa_key, pkcs1, sha256 = key, padding.PKCS1v15(), hashes.SHA256()
        return "RSA", lambda policy: rsa_key.sign(policy, pkcs1, sha256)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError(f"CloudFront private key: {_SUPPORTED}; this is ECDSA {key.curve.name}")
        ec_key, ecdsa = key, ec.ECDSA(hashes.SHA256())
        return "ECDSA", lambda policy: ec_key.sign(policy, ecdsa)  # DER, as CloudFront reads it
    kind = type(key).__name__.removesuffix("PrivateKey") or "unknown"
    raise ConfigurationError(f"CloudFront private key: {_SUPPORTED}; this is {kind}")


def _path(key: str) -> str:
    """The object key as the URL's path, percent-encoded (``/`` kept).

    The canned policy names the URL exactly as requested, so the path must come back from a client as
    sent: ``.`` and ``..`` segments, which clients resolve, and empty ones, which some collapse, are refused.
    """
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise ValueError("an object key for a CloudFront link has no empty, '.' or '..' segments")
    return quote(key, safe="/")
