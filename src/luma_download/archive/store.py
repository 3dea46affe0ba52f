"""The archive bucket: is a task's copy there, a presigned link to it, and a copy streamed into it.

The object is ``<prefix><task_id>.mp4``. The S3 client is made once per container (``handler``)
and reached through the SDK's own variables (``AWS_ENDPOINT_URL_S3``, ...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from luma_download.errors import (
    ArchiveUnavailableError,
    ConfigurationError,
    LumaDownloadError,
    aws_error_code,
)
from luma_download.model import DownloadLink, Provenance, StoredCopy
from luma_download.url_rules import link_facts

if TYPE_CHECKING:  # loaded only where CloudFront signs the links (``handler.with_archive``)
    from luma_download.archive.cdn_links import SigningKey
    from luma_download.model import Deadline

PART_BYTES = 8 * 1024 * 1024
# A stream of unknown length goes up in parts of PART_BYTES, two at a time; at most two are held
# in memory besides the one being read, so any video costs about 40 MB (make bench: a 300 MiB copy
# peaks ~30 MB lower than with four, at the same speed on loopback).
TRANSFER = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=2)
TRANSFER.max_in_memory_upload_chunks = 2  # s3transfer's own setting; boto3's constructor does not take it
CONTENT_TYPE = "video/mp4"
# S3 keeps the checksum of every part and checks each on arrival.
CHECKSUM_ALGORITHM = "SHA256"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CONFIGURATION = frozenset(
    {"403", "AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)


class VideoBody(Protocol):
    """A video read as a file, which counts and hashes what it hands out (``transport.VideoStream``)."""

    def read(self, size: int = -1, /) -> bytes: ...

    @property
    def bytes_read(self) -> int: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Archive:
    """Where copies live and how links to them are signed; lives as long as the container."""

    s3: Any  # botocore S3 client
    bucket: str
    prefix: str
    link_seconds: int
    credentials: Any = None  # the client's botocore credentials, to learn when they expire
    cdn: SigningKey | None = None  # CloudFront signs the links (ARCHIVE_CDN_DOMAIN); None: S3 presigns

    def key(self, task_id: str) -> str:
        return f"{self.prefix}{task_id}.mp4"


def find_copy(archive: Archive, task_id: str) -> StoredCopy | None:
    """The task's copy, or ``None`` when there is none (HeadObject; a 404 needs s3:ListBucket)."""
    key = archive.key(task_id)
    try:
        head = archive.s3.head_object(Bucket=archive.bucket, Key=key)
    except ClientError as exc:
        if aws_error_code(exc, "") in _MISSING:
            return None
        raise storage_error(exc) from None
    except BotoCoreError as exc:
        raise storage_error(exc) from None
    return StoredCopy(task_id, archive.bucket, key, int(head.get("ContentLength", 0)))


def link_to(archive: Archive, copy: StoredCopy, deadline: Deadline) -> DownloadLink:
    """A link to the copy for ``link_seconds``, signed locally: by CloudFront's key pair when the archive
    has a CDN (the first one reads the key, before ``deadline``), else a presigned S3 GET, which never
    outlives the signing credentials. Either way ``link_facts`` reads its expiry back from the URL."""
    if archive.cdn is not None:
        url = archive.cdn.link(copy.key, int(time.time()) + archive.link_seconds, deadline)
    else:
        seconds = link_seconds(archive.link_seconds, archive.credentials)
        url = str(
            archive.s3.generate_presigned_url(
                "get_object", Params={"Bucket": copy.bucket, "Key": copy.key}, ExpiresIn=seconds
            )
        )
    expires_at, log_url = link_facts(url)
    return DownloadLink(copy.task_id, url, expires_at, source="archive", log_url=log_url)


def link_seconds(configured: int, credentials: object) -> int:
    """``configured``, cut to the seconds the signing credentials have left when the SDK knows.

    Temporary credentials (``RefreshableCredentials``) say through ``refresh_needed(seconds)``
    whether they expire within ``seconds``; static ones have no expiry. A link signed with expired
    credentials is refused by S3 whatever its ``X-Amz-Expires``.
    """
    freeze = getattr(credentials, "get_frozen_credentials", None)
    if callable(freeze):
        freeze()  # refreshes credentials that are about to expire, as signing would
    expires_within = getattr(credentials, "refresh_needed", None)
    if not callable(expires_within) or not expires_within(configured):
        return configured
    # The largest whole number of seconds the credentials still cover (at least one, as S3 requires).
    low, high = 0, configured
    while high - low > 1:
        middle = (low + high) // 2
        if expires_within(middle):
            high = middle
        else:
            low = middle
    return max(low, 1)


def store(archive: Archive, task_id: str, body: VideoBody, *, source_host: str) -> StoredCopy:
    """Stream ``body`` into the task's object (multipart, SHA-256 per part); the copy made, with its
    provenance (the whole file's SHA-256, as ``body`` hashed it).

    An error raised while reading ``body`` stops the upload: the SDK aborts the multipart upload,
    so no object and no incomplete upload is left, and the error propagates as raised.
    """
    archived_at = datetime.now(UTC).replace(microsecond=0)
    metadata = {
        "task-id": task_id,
        "source-host": source_host,
        "archived-at": archived_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        archive.s3.upload_fileobj(
            body,
            archive.bucket,
            archive.key(task_id),
            ExtraArgs={
                "ContentType": CONTENT_TYPE,
                "Metadata": metadata,
                "ChecksumAlgorithm": CHECKSUM_ALGORITHM,
            },
            Config=TRANSFER,
        )
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(exc) from None
    made = Provenance(body.sha256, CONTENT_TYPE, archived_at, source_host)
    return StoredCopy(task_id, archive.bucket, archive.key(task_id), body.bytes_read, made)


def storage_error(exc: BotoCoreError | ClientError) -> LumaDownloadError:
    """A refusal that a retry will not fix is a misconfiguration; anything else may pass."""
    if isinstance(exc, ClientError):
        code = aws_error_code(exc, "")
        if code in _CONFIGURATION:
            return ConfigurationError(f"the archive bucket refused this function ({code})")
        return ArchiveUnavailableError("the archive is unavailable", retry_after=5, detail=f"S3 error {code}")
    reason = "unreachable" if isinstance(exc, BotocoreConnectionError) else type(exc).__name__
    return ArchiveUnavailableError("the archive is unavailable", retry_after=5, detail=f"S3 {reason}")
