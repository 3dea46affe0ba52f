"""The one route this service answers, which is also the aggregator's endpoint of the same path."""

from __future__ import annotations

from typing import Final

GENERATIONS_PREFIX: Final = "/luma/generations/"
DOWNLOAD_SUFFIX: Final = "/download_video_url"
