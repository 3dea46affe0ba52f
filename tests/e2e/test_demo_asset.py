"""The demo MP4 that ``make run`` serves is a real, small, browser-friendly (faststart H.264) file."""

from __future__ import annotations

import struct
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_MP4 = REPO / "local" / "assets" / "demo.mp4"


def top_level_boxes(data: bytes) -> list[str]:
    """The types of an MP4's top-level boxes, in file order."""
    boxes: list[str] = []
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        if size < 8:
            raise ValueError(f"bad box size {size} at offset {offset}")
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def test_demo_mp4_is_small_faststart_h264() -> None:
    data = DEMO_MP4.read_bytes()
    assert data[4:8] == b"ftyp"
    assert len(data) < 200_000
    boxes = top_level_boxes(data)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat"), f"not faststart: {boxes}"
    assert b"avc1" in data  # H.264 sample entry
