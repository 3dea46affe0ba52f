"""Text from the aggregator made safe to log or show: tokens masked, control characters gone, short."""

from __future__ import annotations

import re
from collections.abc import Iterable

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# Resellers' keys look like OpenAI's ("sk-..."): mask any, even one this container never sent.
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
MAX_TEXT = 300


def clean_text(value: object, secrets: Iterable[str] = ()) -> str | None:
    """``value`` as one safe line, or ``None`` when it is not a non-blank string."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _CONTROL_CHARS.sub(" ", value).strip()
    for secret in secrets:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)[:MAX_TEXT]


def upstream_message(document: object, secrets: Iterable[str] = ()) -> str | None:
    """The human message in an aggregator's error document, in the shapes resellers use."""
    if not isinstance(document, dict):
        return None
    detail, error = document.get("detail"), document.get("error")
    if isinstance(detail, dict):
        return clean_text(detail.get("reason") or detail.get("message"), secrets)
    if isinstance(error, dict):
        return clean_text(error.get("message"), secrets)
    return clean_text(detail or error or document.get("message"), secrets)
