"""The task id rule: checked before the id touches any URL."""

from __future__ import annotations

import re

from luma_download.errors import InvalidTaskIdError

# ASCII only (no re.UNICODE digits), anchored by fullmatch so a trailing newline cannot slip through.
TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", re.ASCII)


def validate_task_id(value: object) -> str:
    """Return the id if it is 1-128 of ``[A-Za-z0-9_-]`` starting with a letter or digit."""
    if not isinstance(value, str) or TASK_ID_PATTERN.fullmatch(value) is None:
        raise InvalidTaskIdError(
            "task_id must be 1 to 128 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value
