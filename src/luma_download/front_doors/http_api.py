"""The HTTP face: one resolver per front door, the route, and every error mapped to HTTP here.

The handler hands each request's ``RequestRecord`` to the resolver as routing context
(``append_context(record=...)``); the route and the error handlers fill it in.
"""

from __future__ import annotations

import json
import time
from typing import TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from luma_download.errors import InvalidTaskIdError, LumaDownloadError
from luma_download.front_doors.direct_invoke import link_document
from luma_download.front_doors.http_contract import ROUTE_DOC
from luma_download.model import Deadline, DownloadLink, LinkGetter
from luma_download.paths import DOWNLOAD_SUFFIX, GENERATIONS_PREFIX
from luma_download.request_record import RequestRecord
from luma_download.task_id import validate_task_id

ROUTE = f"{GENERATIONS_PREFIX}<task_id>{DOWNLOAD_SUFFIX}"
METHODS = ("GET", "HEAD")
# One URL, two representations (302 or JSON, by Accept): caches must key on Accept.
VARY = "Accept"

R = TypeVar("R", bound=ApiGatewayResolver)


def build_resolver(resolver_cls: type[R], get_link: LinkGetter, *, cache_margin_seconds: int) -> R:
    app = resolver_cls()

    def record() -> RequestRecord:
        found: RequestRecord = app.context["record"]
        return found

    def fail(status: int, code: str, message: str, retry_after: int | None = None) -> Response[str]:
        return error_response(status, code, message, request_id=request_id(app), retry_after=retry_after)

    @app.route(ROUTE, method=list(METHODS), **ROUTE_DOC)
    def download_video_url(task_id: str) -> Response[str]:
        this = record()
        this.task_id = task_id = validate_task_id(task_id)
        found = get_link(task_id, Deadline.from_context(app.lambda_context))
        link = found.link
        headers = {
            "Cache-Control": cache_control(link, time.time(), cache_margin_seconds),
            "Vary": VARY,
        }
        event = app.current_event.raw_event
        if wants_json(event.get("headers"), event.get("queryStringParameters")):
            this.served(found, "json")
            return Response(
                status_code=200,
                content_type=content_types.APPLICATION_JSON,
                body=json.dumps(link_document(link)),
                headers=headers,
            )
        this.served(found, "redirect")
        headers["Location"] = link.url
        return Response(status_code=302, content_type=None, body="", headers=headers)

    def known(exc: LumaDownloadError) -> Response[str]:
        record().failed(exc)
        return fail(exc.status, exc.code, exc.message, exc.retry_after)

    app.exception_handler(LumaDownloadError)(known)

    @app.not_found
    def not_found(_: NotFoundError) -> Response[str]:
        path = app.current_event.path
        if path.startswith(GENERATIONS_PREFIX) and path.endswith(DOWNLOAD_SUFFIX):
            if app.current_event.http_method.upper() in METHODS:
                # The route's pattern refused the id (a decoded "/", CR, LF, ...): say so, as for any bad id.
                try:
                    validate_task_id(path[len(GENERATIONS_PREFIX) : -len(DOWNLOAD_SUFFIX)])
                except InvalidTaskIdError as exc:
                    return known(exc)
            record().outcome = "method_not_allowed"
            response = fail(405, "method_not_allowed", "use GET or HEAD")
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        record().outcome = "not_found"
        return fail(
            404, "not_found", f"no such route; use GET {GENERATIONS_PREFIX}{{task_id}}{DOWNLOAD_SUFFIX}"
        )

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected_error(exc: Exception) -> Response[str]:
        # The trace goes to the operator's log through the record; the client gets a plain JSON error.
        record().crashed(exc)
        return fail(500, "internal_error", "internal error")

    return app


def error_response(
    status: int, code: str, message: str, *, request_id: str | None, retry_after: int | None = None
) -> Response[str]:
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def cache_control(link: DownloadLink, now: float, margin_seconds: int) -> str:
    """Let the client reuse the redirect until shortly before the presigned URL dies (``now``: epoch
    seconds, as ``time.time()`` gives them)."""
    if link.expires_at is None:
        return "no-store"
    max_age = int(link.expires_at - now) - margin_seconds
    return f"private, max-age={max(max_age, 0)}"


def wants_json(headers: dict[str, str] | None, query: dict[str, str] | None) -> bool:
    """``?format=json``, or ``application/json`` in ``Accept`` whatever the header name's case (HTTP
    APIs and Function URLs send lower case, REST APIs as sent).

    Read from the raw event (``front_door`` checked both are maps of strings): building Powertools'
    case-insensitive copy of every header costs more than the rest of a cache hit's own work.
    """
    if query and query.get("format") == "json":
        return True
    if not headers:
        return False
    accept = headers.get("accept")
    if accept is None:
        accept = next((item for name, item in headers.items() if name.lower() == "accept"), None)
    return accept is not None and "application/json" in accept.lower()


def request_id(app: ApiGatewayResolver) -> str | None:
    try:
        return str(app.current_event.request_context.request_id)  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError):
        return None
