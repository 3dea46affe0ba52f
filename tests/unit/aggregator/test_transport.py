"""The video stream's whole-file SHA-256: taken from exactly the bytes it hands out, however they are read.

The stream reads a real urllib3 response over an in-memory body (no socket: the hash is the unit).
"""

from __future__ import annotations

import hashlib
import io

import pytest
import urllib3

from luma_download.aggregator.transport import VideoStream
from luma_download.model import Deadline

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def stream_of(body: bytes, *, declared: int | None = None) -> VideoStream:
    response = urllib3.HTTPResponse(body=io.BytesIO(body), status=200, preload_content=False)
    return VideoStream(
        response, deadline=Deadline(10), declared=declared, max_bytes=1 << 20, source_host="127.0.0.1"
    )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("sizes", [[-1], [len(VIDEO) + 1], [1, 7, 3, 4096, -1], [4] * 3000])
def test_the_whole_files_sha256_whatever_the_read_sizes(sizes: list[int]) -> None:
    stream = stream_of(VIDEO, declared=len(VIDEO))
    read = b"".join(stream.read(size) for size in sizes)

    assert read == VIDEO
    assert stream.bytes_read == len(VIDEO)
    assert stream.sha256 == digest(VIDEO)


def test_part_way_the_hash_covers_what_was_handed_out() -> None:
    stream = stream_of(VIDEO)

    first = stream.read(100)

    assert stream.sha256 == digest(first) == digest(VIDEO[:100])
    rest = stream.read(-1)
    assert stream.sha256 == digest(first + rest) == digest(VIDEO)


def test_nothing_read_is_the_empty_files_hash() -> None:
    assert stream_of(VIDEO).sha256 == digest(b"")
