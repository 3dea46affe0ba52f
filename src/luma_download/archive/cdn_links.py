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

The expiry is the caller's ``expires_at``, carried as ``Expires`` (epoch seconds), where
``url_rules.link_facts`` reads it back with the link's log form as for any presigned link: the
``Cache-Control`` and link cache count down to it. Unlike an S3 presigned link, nothing else cuts it
short: CloudFront's signature does not depend on the function role's temporary credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

from botocore.signers import CloudFrontSigner

from luma_download.errors import ConfigurationError
from luma_download.url_rules import is_loopback_host

KeyType = Literal["RSA", "ECDSA"]
HASH_ALGORITHM = "SHA256"
# CloudFront's public key ids (K2JCJMDEHXQW5F) and the legacy root key pairs' (APKA...).
_KEY_PAIR_ID = re.compile(r"[A-Z0-9]{1,64}", re.ASCII)
# A host name or IPv4 address, and a port (the loopback stand-in has one): nothing else in the authority.
_DOMAIN = re.compile(r"([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::[0-9]{1,5})?", re.ASCII)
_RSA_BITS = 2048
_SUPPORTED = "CloudFront signs with RSA 2048 or ECDSA P-256 keys"


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
