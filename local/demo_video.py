"""Real MP4 bytes of any size: the demo MP4 (``local/assets/demo.mp4``) followed by a ``free`` box.

A ``free`` box is padding every MP4 reader skips, so the result still plays (the same 3 s clip).
Tests and the benchmark use it for videos bigger than one multipart part (8 MiB) without storing
big files in the repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

DEMO_MP4: Final = Path(__file__).resolve().parent / "assets" / "demo.mp4"
_BOX_HEADER = 8  # 32-bit size, then the type
_MAX_BOX = 2**32 - 1
_CHUNK = 1024 * 1024


def padded_mp4_chunks(size: int, base: bytes | None = None) -> Iterator[bytes]:
    """The bytes of a ``size``-byte MP4, in chunks of at most 1 MiB."""
    head = DEMO_MP4.read_bytes() if base is None else base
    padding = size - len(head)
    if padding < _BOX_HEADER or padding > _MAX_BOX:
        raise ValueError(f"size must be {len(head) + _BOX_HEADER} to {len(head) + _MAX_BOX} bytes")
    yield head + padding.to_bytes(4, "big") + b"free"
    left = padding - _BOX_HEADER
    zeros = bytes(_CHUNK)
    while left > 0:
        yield zeros[: min(left, _CHUNK)]
        left -= min(left, _CHUNK)


def padded_mp4(size: int) -> bytes:
    return b"".join(padded_mp4_chunks(size))


def write_padded_mp4(path: Path, size: int) -> Path:
    """Write a ``size``-byte MP4 to ``path`` a chunk at a time (large videos never sit in memory)."""
    with path.open("wb") as out:
        for chunk in padded_mp4_chunks(size):
            out.write(chunk)
    return path
