"""Which front door an event came through. The resolvers crash on shapes they do not know: ask first.

Lambda hands over parsed JSON, whose objects have string keys at every depth. An event with any
other key came from no front door but a hand-made or SDK invoke from Python, whichever door it
imitates; it is ``unknown`` (a 400) before any of it is read: Powertools and
``http_api.wants_json`` call string methods on header names.
The checks are on ``dict`` (cheaper than ``Mapping``).
An SQS event (the archive queue's event source mapping) is ``Records`` from ``aws:sqs``.
An HTTP-shaped event must also carry its headers, query and path parameters, stage variables and
cookies as strings, as API Gateway and Function URLs always do; a hand-made one that does not is
``unknown`` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import orjson

from luma_download.front_doors.direct_invoke import is_direct_invoke

FrontDoor = Literal["direct", "http_api", "rest_api", "function_url", "sqs", "unknown"]


def front_door(event: object) -> FrontDoor:
    if not isinstance(event, dict) or not has_string_keys(event):
        return "unknown"
    if is_direct_invoke(event):
        return "direct"
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


def has_string_keys(document: dict[str, object]) -> bool:
    """Whether every object in ``document``, however deep (in arrays too), has only string keys.

    orjson answers in C, a sixth of the walk's time in a tight loop (interleaved with other work, as
    in ``make bench``, about the walk's: its code is out of the caches then). What it writes has
    ``str`` keys at every depth (it refuses a subclass too), so its yes is the walk's. Its no may be
    for something else (an int past 64 bits, nesting past 255 levels, a lone surrogate): then the
    walk decides. A large body
    (never read here, but copied by orjson) goes straight to the walk.
    """
    body = document.get("body")
    if type(body) is not str or len(body) <= _LARGEST_BODY_WRITTEN:
        try:
            orjson.dumps(document)
        except TypeError:
            pass
        else:
            return True
    return walk_has_string_keys(document)


def walk_has_string_keys(document: dict[str, object]) -> bool:
    """``has_string_keys`` in Python: objects and arrays are what ``json.loads`` makes, ``dict`` and
    ``list`` themselves, so the walk compares types with ``is`` (half what ``isinstance`` costs here)
    and descends into nothing else; the maps read as strings must be ``dict`` themselves
    (``_string_maps``). No recursion: a hand-made event may nest deeper than Python's stack.
    """
    pending: list[Iterable[object]] = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if not _STRINGS.issuperset(map(type, node)):
                return False
            node = node.values()
        for item in node:
            kind = type(item)
            if kind is dict or kind is list:
                pending.append(item)  # type: ignore[arg-type]
    return True


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
    """The maps API Gateway fills with strings are absent, null, or maps to strings (or lists of them),
    the HTTP API's cookies a list of strings; ``has_string_keys`` has checked their keys."""
    for key in _STRING_MAPS:
        value = event.get(key)
        if value is not None and (
            type(value) is not dict or not _STRINGS.issuperset(map(type, value.values()))
        ):
            return False
    for key in _LIST_MAPS:
        value = event.get(key)
        if value is None:
            continue
        if type(value) is not dict or not _LISTS.issuperset(map(type, value.values())):
            return False
        if not all(_STRINGS.issuperset(map(type, items)) for items in value.values()):
            return False
    cookies = event.get("cookies")
    return cookies is None or (type(cookies) is list and _STRINGS.issuperset(map(type, cookies)))


_STRING_MAPS = ("headers", "queryStringParameters", "pathParameters", "stageVariables")
_LIST_MAPS = ("multiValueHeaders", "multiValueQueryStringParameters")
_STRINGS = frozenset({str})
_LISTS = frozenset({list})
_LARGEST_BODY_WRITTEN = 4096  # characters: orjson copies a body, the walk does not look at it
