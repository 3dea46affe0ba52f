"""The HTTP contract as OpenAPI metadata on the route, for ``tools/openapi.py`` (docs/openapi.json).

Plain dicts only: nothing here imports pydantic, and the resolvers keep request validation off, so
the metadata costs the cold path nothing but these literals. The README's "HTTP contract" table is
the source; a change there belongs here too (tests/contract checks the document against that table,
and the live API against the document).
"""

from __future__ import annotations

from typing import Any, Final, TypedDict

from luma_download.task_id import TASK_ID_PATTERN

# Plain dicts, not Powertools' TypedDicts: those lack the header objects' ``required``.
Json = dict[str, Any]

# JSON Schema patterns are unanchored searches: anchor the id rule the function applies with fullmatch.
TASK_ID_SCHEMA: Final[Json] = {
    "type": "string",
    "pattern": f"^{TASK_ID_PATTERN.pattern}$",
    "minLength": 1,
    "maxLength": 128,
}

# The parameters as the handler reads them: Powertools sees only ``task_id: str`` in its signature,
# not the id's rule, nor the two it reads from the event.
PARAMETERS: Final[list[Json]] = [
    {
        "name": "task_id",
        "in": "path",
        "required": True,
        "description": "The Luma task id; anything else is 400 invalid_task_id and nothing is sent upstream.",
        "schema": TASK_ID_SCHEMA,
        "example": "1fa17995-f527-46a5-9796-294b453b8a7f",
    },
    {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "`json`: answer 200 with the link document instead of the 302; other values: ignored.",
        "schema": {"type": "string"},
        "example": "json",
    },
    {
        "name": "Accept",
        "in": "header",
        "required": False,
        "description": "Containing `application/json`: answer 200 with the link document instead of the 302.",
        "schema": {"type": "string"},
        "example": "application/json",
    },
]

_CACHE_CONTROL: Final[Json] = {
    "description": "`private, max-age=<seconds until the link dies less the margin>`, or `no-store` when the "
    "link's expiry is unknown.",
    "schema": {"type": "string", "pattern": "^(private, max-age=[0-9]+|no-store)$"},
    "required": True,
}
_VARY: Final[Json] = {
    "description": "`Accept`: the same URL answers a redirect or the JSON document, so caches key on it.",
    "schema": {"type": "string", "const": "Accept"},
    "required": True,
}
_NO_STORE: Final[dict[str, Json]] = {
    "Cache-Control": {
        "description": "Errors are never cached.",
        "schema": {"type": "string", "const": "no-store"},
        "required": True,
    }
}


def _retry_after(description: str) -> dict[str, Json]:
    seconds = {
        "description": description,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "required": True,
    }
    return {**_NO_STORE, "Retry-After": seconds}


def error_body_schema(*codes: str) -> Json:
    """``{"error": {"code", "message", "request_id"}}`` with ``code`` one of ``codes``."""
    return {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "enum": list(codes)},
                    "message": {"type": "string", "minLength": 1},
                    "request_id": {
                        "type": ["string", "null"],
                        "description": "The API Gateway request id, to quote to the operator.",
                    },
                },
            }
        },
    }


def _error(description: str, *codes: str, headers: dict[str, Json] = _NO_STORE) -> Json:
    return {
        "description": description,
        "headers": dict(headers),
        "content": {"application/json": {"schema": error_body_schema(*codes)}},
    }


LINK_DOCUMENT_SCHEMA: Final[Json] = {
    "type": "object",
    "required": ["task_id", "url", "expires_at", "source"],
    "additionalProperties": False,
    "properties": {
        "task_id": TASK_ID_SCHEMA,
        "url": {"type": "string", "format": "uri", "description": "The presigned URL of the MP4."},
        "expires_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When the URL dies (UTC); null when unknown.",
        },
        "source": {
            "type": "string",
            "enum": ["aggregator", "archive"],
            "description": "Where the link came from: the aggregator, or the deployer's archived copy.",
        },
    },
}

RESPONSES: Final[dict[int, Json]] = {
    200: {
        "description": "The link document, when asked for with `Accept: application/json` or `?format=json`.",
        "headers": {"Cache-Control": _CACHE_CONTROL, "Vary": _VARY},
        "content": {"application/json": {"schema": LINK_DOCUMENT_SCHEMA}},
    },
    302: {
        "description": "Redirect to the watermark-free MP4 (a presigned URL).",
        "headers": {
            "Location": {
                "description": "The presigned URL: the aggregator's (https, on ALLOWED_REDIRECT_HOSTS), or, "
                "with the archive on, one to the archived copy in the deployer's S3 bucket.",
                "schema": {"type": "string", "format": "uri"},
                "required": True,
            },
            "Cache-Control": _CACHE_CONTROL,
            "Vary": _VARY,
        },
        "content": {},
    },
    400: _error(
        "The id fails the pattern, or the event is not understood.", "invalid_task_id", "invalid_request"
    ),
    404: _error("The aggregator does not know this task.", "task_not_found"),
    409: _error(
        "The task has not completed yet; ask again after Retry-After seconds.",
        "video_not_ready",
        headers=_retry_after("Seconds to wait before asking again (10)."),
    ),
    410: _error(
        "The generation failed; the message has the reason. Asking again will not help.", "task_failed"
    ),
    429: _error(
        "The aggregator is rate limiting and its wait does not fit in this invocation.",
        "rate_limited",
        headers=_retry_after("Seconds the aggregator asked to wait."),
    ),
    500: _error(
        "Misconfigured (secret missing or unreadable, bad settings), or a bug.",
        "misconfigured",
        "internal_error",
    ),
    502: _error("The aggregator answered with nothing usable, or with a refused URL.", "bad_upstream"),
    503: _error(
        "The aggregator or Secrets Manager could not be reached.",
        "upstream_unavailable",
        headers=_retry_after("Seconds to wait before asking again (5)."),
    ),
    504: _error("Out of time before the aggregator answered.", "upstream_timeout"),
}

# Any other method on the route's path; not an operation of its own, so a component for tools/openapi.py.
METHOD_NOT_ALLOWED: Final[Json] = _error(
    "Any method other than GET or HEAD on this path.",
    "method_not_allowed",
    headers={
        **_NO_STORE,
        "Allow": {
            "description": "The methods this path answers.",
            "schema": {"type": "string", "const": "GET, HEAD"},
            "required": True,
        },
    },
)


class RouteDoc(TypedDict):
    summary: str
    description: str
    responses: dict[int, Any]  # Powertools' OpenAPIResponse, which these dicts fit
    tags: list[str]


ROUTE_DOC: Final[RouteDoc] = {
    "summary": "The watermark-free MP4 of a Luma task: a 302 to it, or its link as JSON",
    "description": (
        "Asks the aggregator for the task's download link (and, while it answers 400, for the task "
        "itself), checks the URL, and answers a 302 to it; with the archive on, a link to the task's "
        "archived copy answers first. `Accept: application/json` or "
        "`?format=json` get the link document instead. HEAD answers the same without a body. Every "
        'error is `{"error": {"code", "message", "request_id"}}` with `Cache-Control: no-store`.'
    ),
    "responses": RESPONSES,
    "tags": ["download"],
}
