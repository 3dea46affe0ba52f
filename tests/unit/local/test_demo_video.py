"""The padded demo MP4: any size, still the demo clip followed by one ``free`` box."""

from __future__ import annotations

import pytest

from local.demo_video import DEMO_MP4, padded_mp4


def top_level_boxes(data: bytes) -> list[tuple[bytes, int]]:
    """(type, size) of each top-level ISO BMFF box; their sizes must add up to the file."""
    boxes, offset = [], 0
    for _ in range(64):
        if offset == len(data):
            return boxes
        size = int.from_bytes(data[offset : offset + 4], "big")
        assert size >= 8
        boxes.append((data[offset + 4 : offset + 8], size))
        offset += size
    raise AssertionError("too many boxes")


@pytest.mark.parametrize("size", [DEMO_MP4.stat().st_size + 8, 3 * 1024 * 1024 + 5])
def test_a_padded_mp4_is_the_demo_then_free_space(size: int) -> None:
    demo = DEMO_MP4.read_bytes()

    data = padded_mp4(size)

    assert len(data) == size
    assert data.startswith(demo)
    assert top_level_boxes(data) == [*top_level_boxes(demo), (b"free", size - len(demo))]


def test_a_size_that_cannot_hold_the_demo_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        padded_mp4(DEMO_MP4.stat().st_size)
