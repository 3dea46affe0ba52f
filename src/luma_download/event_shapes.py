"""Which front door an event came through. The resolvers crash on shapes they do not know: ask first.

Lambda hands over JSON objects as ``dict``: the checks are on ``dict`` (cheaper than ``Mapping``).
An SQS event (the archive queue's event source mapping) is ``Records`` from ``aws:sqs``.
An HTTP-shaped event must also carry its headers and query parameters as string maps, as API
Gateway and Function URLs always do; a hand-made one that does not is ``unknown`` (a 400).
"""

from __future__ import annotations

from typing import Literal

from luma_download.workflow import is_direct_invoke

FrontDoor = Literal["direct", "http_api", "rest_api", "function_url", "sqs", "unknown"]


def front_door(event: object) -> FrontDoor:
    if is_direct_invoke(event):
        return "direct"
    if not isinstance(event, dict):
        return "unknown"
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return "sqs" if _is_sqs(event) else "unknown"
    if not _string_maps(event):
        return "unknown"
    http = context.get("http")
    if event.get("version") == "2.0" and isinstance(http, dict):
        if not isinstance(event.get("rawPath"), str) or not isinstance(http.get("method"), str):
            return "unknown"
        # Function URL events look like HTTP API ones; only the domain tells them apart.
        return "function_url" if ".lambda-url." in str(context.get("domainName", "")) else "http_api"
    if isinstance(event.get("httpMethod"), str) and isinstance(event.get("path"), str):
        return "rest_api"
    return "unknown"


def _is_sqs(event: dict[str, object]) -> bool:
    """At least one record, every one from SQS with the message id and body SQS always sends."""
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all(map(_is_sqs_record, records))


def _is_sqs_record(record: object) -> bool:
    return (
        isinstance(record, dict)
        and record.get("eventSource") == "aws:sqs"
        and isinstance(record.get("messageId"), str)
        and isinstance(record.get("body"), str)
    )


def _string_maps(event: dict[str, object]) -> bool:
    """Headers, query and path parameters are absent, null, or maps to strings (or lists of them).

    Only values are checked: keys of a JSON object, which is all Lambda hands over, are strings.
    """
    for key in ("headers", "queryStringParameters", "pathParameters"):
        value = event.get(key)
        if value is not None and (
            not isinstance(value, dict) or not _STRINGS.issuperset(map(type, value.values()))
        ):
            return False
    for key in ("multiValueHeaders", "multiValueQueryStringParameters"):
        value = event.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not _LISTS.issuperset(map(type, value.values())):
            return False
        if not all(_STRINGS.issuperset(map(type, items)) for items in value.values()):
            return False
    return True


_STRINGS = frozenset({str})
_LISTS = frozenset({list})
