"""Regenerate ``local/assets/demo.mp4``, the small MP4 the local demo serves from its embedded S3.

The file is committed; this script only documents and reproduces how it was made. It needs PyAV
(which bundles FFmpeg with libx264), installed in a throwaway venv so it never enters the project's
requirements. PyAV 19 needs Python >= 3.12, so on this project's Python 3.11 use 18.1.0::

    python3 -m venv /tmp/avvenv
    /tmp/avvenv/bin/pip install av==18.1.0
    /tmp/avvenv/bin/python local/assets/make_demo_mp4.py            # writes local/assets/demo.mp4
    /tmp/avvenv/bin/python local/assets/make_demo_mp4.py OUT.mp4    # or anywhere else

What it writes: 3 s of FFmpeg's moving ``testsrc2`` pattern, 320x180 at 24 fps, H.264 Main profile
(yuv420p, one keyframe a second), no audio track, in an MP4 with ``+faststart`` (``moov`` before
``mdat``, so a browser can start playing from a presigned URL after one small read) and
``+bitexact`` (no encoder version strings in the container). Headless Debian Chromium plays it.
Output: 58,727 bytes with av 18.1.0 (byte-identical across runs), 72 frames, 3 keyframes.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av  # type: ignore[import-not-found, unused-ignore]

WIDTH = 320
HEIGHT = 180
FPS = 24
SECONDS = 3
DEFAULT_OUT = Path(__file__).resolve().parent / "demo.mp4"


def make_demo_mp4(out: Path) -> int:
    """Encode the test pattern into ``out``; return its size in bytes."""
    source = f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={SECONDS}"
    tmp = out.with_suffix(".tmp.mp4")
    with (
        av.open(source, format="lavfi") as src,
        av.open(
            str(tmp),
            mode="w",
            format="mp4",
            options={"movflags": "+faststart", "fflags": "+bitexact"},
        ) as dst,
    ):
        stream = dst.add_stream(
            "libx264",
            rate=FPS,
            options={
                "profile": "main",
                "preset": "slow",
                "crf": "28",
                "x264-params": f"keyint={FPS}:min-keyint={FPS}:threads=1",
            },
        )
        stream.width = WIDTH
        stream.height = HEIGHT
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        for index, raw in enumerate(src.decode(video=0)):
            frame = raw.reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            # lavfi hands out every frame marked as an I picture, and libx264 honours that as a
            # forced keyframe; clear it so the encoder picks frame types (3x smaller output).
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    tmp.replace(out)
    return out.stat().st_size


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    size = make_demo_mp4(out)
    print(f"wrote {out} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
