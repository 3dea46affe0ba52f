"""CloudFront signed links: the URL's shape, the canned policy signed, the keys taken and refused."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa

from local.edge import KeyPair, demo_key_pair
from luma_download.archive import cdn_links
from luma_download.archive.cdn_links import CdnLinks, SigningKey, from_pem
from luma_download.errors import ConfigurationError
from luma_download.model import Deadline
from luma_download.url_rules import link_facts
from tests.unit.conftest import Vault

ROOT = Path(__file__).resolve().parents[3]
DOMAIN = "d111111abcdef8.cloudfront.net"
KEY_ID = "K2JCJMDEHXQW5F"
EXPIRES = 1767290400  # AWS's example: 2026-01-01T18:00:00Z
# The canned policy for https://<DOMAIN>/luma/abc.mp4 until EXPIRES, byte for byte (no whitespace).
CANNED_POLICY = (
    b'{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/luma/abc.mp4",'
    b'"Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}'
)


@pytest.fixture(scope="module")
def key_pairs() -> dict[str, KeyPair]:
    return {kind: demo_key_pair(kind, KEY_ID) for kind in ("RSA", "ECDSA")}


def signer(pair: KeyPair) -> CdnLinks:
    return from_pem(pair.private_pem, pair.key_pair_id, DOMAIN)


def query_fields(url: str) -> list[tuple[str, str]]:
    return [(name, value) for name, _, value in (f.partition("=") for f in urlsplit(url).query.split("&"))]


def signature_of(url: str) -> bytes:
    encoded = dict(query_fields(url))["Signature"]
    return base64.b64decode(encoded.translate(str.maketrans("-_~", "+=/")), validate=True)


def verify(public_pem: str, signature: bytes, message: bytes, algorithm: hashes.HashAlgorithm) -> None:
    key = serialization.load_pem_public_key(public_pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, message, padding.PKCS1v15(), algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, message, ec.ECDSA(algorithm))


def test_the_link_has_the_documented_shape(key_pairs: dict[str, KeyPair]) -> None:
    url = signer(key_pairs["ECDSA"]).link("luma/1fa17995-f527.mp4", EXPIRES)

    base, _, _ = url.partition("?")
    assert base == f"https://{DOMAIN}/luma/1fa17995-f527.mp4"
    fields = query_fields(url)
    assert [name for name, _ in fields] == ["Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"]
    values = dict(fields)
    assert values["Expires"] == str(EXPIRES)
    assert values["Key-Pair-Id"] == KEY_ID
    assert values["Hash-Algorithm"] == "SHA256"
    # CloudFront's URL-safe base64: no "+", "=" or "/" left to be mangled on the way.
    assert values["Signature"]
    assert not set(values["Signature"]) - set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~"
    )


@pytest.mark.parametrize("kind", ["RSA", "ECDSA"])
def test_the_signature_is_over_the_canned_policy_with_sha256(
    key_pairs: dict[str, KeyPair], kind: str
) -> None:
    pair = key_pairs[kind]
    url = signer(pair).link("luma/abc.mp4", EXPIRES)

    verify(pair.public_pem, signature_of(url), CANNED_POLICY, hashes.SHA256())  # raises if not
    with pytest.raises(InvalidSignature):
        verify(pair.public_pem, signature_of(url), CANNED_POLICY, hashes.SHA1())  # noqa: S303 (the legacy hash)


@pytest.mark.parametrize(("key", "expires"), [("luma/abc.mp4", EXPIRES + 1), ("luma/abd.mp4", EXPIRES)])
def test_the_signature_covers_the_expiry_and_the_url(
    key_pairs: dict[str, KeyPair], key: str, expires: int
) -> None:
    pair = key_pairs["ECDSA"]
    url = signer(pair).link(key, expires)

    with pytest.raises(InvalidSignature):
        verify(pair.public_pem, signature_of(url), CANNED_POLICY, hashes.SHA256())


def test_the_key_is_percent_encoded_and_signed_as_encoded(key_pairs: dict[str, KeyPair]) -> None:
    pair = key_pairs["RSA"]
    url = signer(pair).link("luma/a b+c%d?é#.mp4", EXPIRES)

    resource = f"https://{DOMAIN}/luma/a%20b%2Bc%25d%3F%C3%A9%23.mp4"
    assert url.partition("?")[0] == resource
    policy = json.dumps(
        {"Statement": [{"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": EXPIRES}}}]},
        separators=(",", ":"),
    )
    verify(pair.public_pem, signature_of(url), policy.encode(), hashes.SHA256())


@pytest.mark.parametrize("key", ["", "luma/../secret.mp4", "./a.mp4", "luma//a.mp4", "luma/", "/luma/a.mp4"])
def test_a_key_a_client_would_rewrite_is_refused(key_pairs: dict[str, KeyPair], key: str) -> None:
    with pytest.raises(ValueError, match="segments"):
        signer(key_pairs["ECDSA"]).link(key, EXPIRES)


def test_the_expiry_reads_back_as_any_presigned_links_does(key_pairs: dict[str, KeyPair]) -> None:
    """What the request path's ``Cache-Control`` and link cache count down to, and the log form."""
    now = datetime.now(UTC)
    epoch = int(now.timestamp()) + 3600
    url = signer(key_pairs["ECDSA"]).link("luma/abc.mp4", epoch)

    facts = link_facts(url, now.timestamp())
    assert facts.expires_at == epoch
    assert dict(query_fields(url))["Signature"] not in facts.log_url


def pkcs8(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey | ed25519.Ed25519PrivateKey,
) -> str:
    encoded = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encoded.decode()


@pytest.mark.parametrize(
    ("kind", "private_format"),
    [
        ("RSA", serialization.PrivateFormat.PKCS8),
        ("RSA", serialization.PrivateFormat.TraditionalOpenSSL),  # -----BEGIN RSA PRIVATE KEY-----
        ("ECDSA", serialization.PrivateFormat.PKCS8),
        ("ECDSA", serialization.PrivateFormat.TraditionalOpenSSL),  # -----BEGIN EC PRIVATE KEY-----
    ],
)
def test_the_key_type_is_read_from_the_pem(
    key_pairs: dict[str, KeyPair], kind: str, private_format: serialization.PrivateFormat
) -> None:
    loaded = serialization.load_pem_private_key(key_pairs[kind].private_pem.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    pem = loaded.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())

    links = from_pem(pem, KEY_ID, DOMAIN)  # bytes are taken as well as text

    assert links.key_type == kind
    url = links.link("luma/abc.mp4", EXPIRES)
    verify(key_pairs[kind].public_pem, signature_of(url), CANNED_POLICY, hashes.SHA256())


def unusable_keys() -> dict[str, str]:
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    encrypted = ecdsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    public = (
        ecdsa.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    valid = pkcs8(ecdsa)
    return {
        "DSA": pkcs8(dsa.generate_private_key(key_size=2048)),
        "ECDSA P-384": pkcs8(ec.generate_private_key(ec.SECP384R1())),
        "Ed25519": pkcs8(ed25519.Ed25519PrivateKey.generate()),
        "RSA 1024": pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505 (the refused size)
        "encrypted": encrypted,
        "a public key": public,
        "truncated": valid[: len(valid) // 2],
        "a corrupted body": valid.replace(valid.splitlines()[2][:8], "AAAAAAAA"),
        "not ASCII": valid.replace("-----END", "\udcff-----END"),
        "not PEM": "sk-not-a-key-at-all-5f0c9e1a7b3d4c2e8a6f0d1b",
    }


UNUSABLE = unusable_keys()


@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_an_unusable_key_is_misconfigured_and_never_shown(name: str) -> None:
    pem = UNUSABLE[name]

    with pytest.raises(ConfigurationError) as raised:
        from_pem(pem, KEY_ID, DOMAIN)

    error = raised.value
    assert error.code == "misconfigured"
    assert error.detail and error.detail.startswith("CloudFront private key: ")
    # Nothing chained either: a traceback would show the cause's text (a UnicodeEncodeError holds it all).
    assert error.__cause__ is None and error.__context__ is None
    shown = f"{error} {error!r} {error.detail} {error.args!r}"
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    for line in body:
        assert line[:12] not in shown, f"key material in the error for {name}: {shown}"


@pytest.mark.parametrize(
    ("name", "detail"),
    [("DSA", "this is DSA"), ("ECDSA P-384", "this is ECDSA secp384r1"), ("RSA 1024", "this is RSA 1024")],
)
def test_a_key_of_another_type_says_which(name: str, detail: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        from_pem(UNUSABLE[name], KEY_ID, DOMAIN)
    assert raised.value.detail is not None
    assert raised.value.detail.endswith(detail)


@pytest.mark.parametrize(
    ("key_pair_id", "domain", "scheme", "detail"),
    [
        ("", DOMAIN, "https", "key pair id"),
        ("K2JCJ&Signature=x", DOMAIN, "https", "key pair id"),
        (KEY_ID, "https://d111111abcdef8.cloudfront.net", "https", "domain"),
        (KEY_ID, "d111111abcdef8.cloudfront.net/luma", "https", "domain"),
        (KEY_ID, "user@d111111abcdef8.cloudfront.net", "https", "domain"),
        (KEY_ID, "", "https", "domain"),
        (KEY_ID, DOMAIN, "http", "loopback"),
    ],
)
def test_bad_settings_are_misconfigured(
    key_pairs: dict[str, KeyPair], key_pair_id: str, domain: str, scheme: str, detail: str
) -> None:
    with pytest.raises(ConfigurationError, match="misconfigured") as raised:
        from_pem(key_pairs["ECDSA"].private_pem, key_pair_id, domain, scheme=scheme)  # type: ignore[arg-type]
    assert raised.value.detail is not None
    assert detail in raised.value.detail


def test_a_pem_pasted_as_the_key_pair_id_is_not_repeated(key_pairs: dict[str, KeyPair]) -> None:
    pem = key_pairs["ECDSA"].private_pem
    with pytest.raises(ConfigurationError) as raised:
        from_pem(pem, pem, DOMAIN)
    shown = f"{raised.value} {raised.value.detail}"
    assert pem.splitlines()[1][:12] not in shown


def test_plain_http_is_for_the_loopback_stand_in(key_pairs: dict[str, KeyPair]) -> None:
    url = from_pem(key_pairs["ECDSA"].private_pem, KEY_ID, "127.0.0.1:8443", scheme="http").link(
        "a.mp4", EXPIRES
    )
    assert url.startswith("http://127.0.0.1:8443/a.mp4?Expires=")


LAZY_PROBE = """
import json, sys
from luma_download.archive import cdn_links
before = "cryptography" in sys.modules
cdn_links.from_pem(sys.stdin.read(), "K2JCJMDEHXQW5F", "d111111abcdef8.cloudfront.net")
print(json.dumps({"at_import": before, "after_build": "cryptography" in sys.modules}))
"""


def test_cryptography_is_loaded_only_when_a_signer_is_built(key_pairs: dict[str, KeyPair]) -> None:
    """A stack without CloudFront links never pays for loading it at cold start."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    probe = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE],
        input=key_pairs["ECDSA"].private_pem,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert json.loads(probe.stdout) == {"at_import": False, "after_build": True}


SECRET_ID = "luma/archive-cdn-key"


def signing_key(vault: Vault, domain: str = DOMAIN) -> SigningKey:
    return SigningKey(vault, SECRET_ID, KEY_ID, domain)


@pytest.mark.parametrize("binary", [False, True])
def test_the_key_in_the_secret_is_read_once_and_signs_every_link(
    key_pairs: dict[str, KeyPair], binary: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = key_pairs["ECDSA"]
    vault = Vault(pair.private_pem.encode() if binary else pair.private_pem)  # SecretBinary or SecretString
    key = signing_key(vault)
    built: list[CdnLinks] = []

    def counted(*args: Any, **kwargs: Any) -> CdnLinks:
        built.append(from_pem(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(cdn_links, "from_pem", counted)

    urls = [key.link("luma/abc.mp4", EXPIRES, Deadline(5)) for _ in range(3)]

    # one GetSecretValue, one signer built (the PEM parsed once), three links
    assert vault.fetches == [SECRET_ID]
    assert len(built) == 1
    for url in urls:
        assert url.startswith(f"https://{DOMAIN}/luma/abc.mp4?Expires={EXPIRES}&")
        verify(pair.public_pem, signature_of(url), CANNED_POLICY, hashes.SHA256())


def test_a_loopback_domain_is_the_local_stand_in_over_http(key_pairs: dict[str, KeyPair]) -> None:
    key = signing_key(Vault(key_pairs["RSA"].private_pem), "127.0.0.1:8443")

    assert key.link("a.mp4", EXPIRES, Deadline(5)).startswith("http://127.0.0.1:8443/a.mp4?Expires=")


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (None, "CloudFront key secret is empty"),
        ('{"private_key": "-----BEGIN PRIVATE KEY-----"}', "CloudFront key secret holds JSON"),
        (b'  {"pem": "x"}', "CloudFront key secret holds JSON"),
        ("not a key", "CloudFront private key: not an unencrypted PEM private key"),
    ],
)
def test_a_value_that_cannot_sign_is_read_again_until_it_is_fixed(
    key_pairs: dict[str, KeyPair], value: object, detail: str
) -> None:
    # Given a secret holding something that is not a key
    vault = Vault(value)
    key = signing_key(vault)
    with pytest.raises(ConfigurationError) as raised:
        key.link("a.mp4", EXPIRES, Deadline(5))
    assert raised.value.detail is not None
    assert raised.value.detail.startswith(detail)

    # When the operator puts the key in it (Powertools still caches the old value, for a year)
    vault.value = key_pairs["ECDSA"].private_pem

    # Then the next link reads it past every cache, and the one after reuses it
    assert key.link("a.mp4", EXPIRES, Deadline(5)).startswith(f"https://{DOMAIN}/a.mp4?")
    assert key.link("b.mp4", EXPIRES, Deadline(5)).startswith(f"https://{DOMAIN}/b.mp4?")
    assert vault.fetches == [SECRET_ID, SECRET_ID]
