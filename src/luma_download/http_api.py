"""The HTTP face: one resolver per front door, the route, and every error mapped to HTTP here."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from luma_download.errors import InvalidTaskIdError, LumaDownloadError
from luma_download.http_contract import ROUTE_DOC
from luma_download.task_id import validate_task_id
from luma_download.telemetry import count_error
from luma_download.upstream import Deadline, DownloadLink
from luma_download.workflow import link_document

ROUTE = "/luma/generations/<task_id>/download_video_url"
METHODS = ("GET", "HEAD")
_ROUTE_PREFIX, _ROUTE_SUFFIX = "/luma/generations/", "/download_video_url"

LinkGetter = Callable[[str, Deadline], DownloadLink]
R = TypeVar("R", bound=ApiGatewayResolver)


def build_resolver(
    resolver_cls: type[R],
    get_link: LinkGetter,
    *,
    logger: Logger,
    metrics: Metrics,
    cache_margin_seconds: int,
) -> R:
    app = resolver_cls()

    def fail(status: int, code: str, message: str, retry_after: int | None = None) -> Response[str]:
        return error_response(
            status,
            code,
            message,
            request_id=request_id(app),
            retry_after=retry_after,
            metrics=metrics,
            logger=logger,
        )

    @app.route(ROUTE, method=list(METHODS), **ROUTE_DOC)
    def download_video_url(task_id: str) -> Response[str]:
        task_id = validate_task_id(task_id)
        logger.append_keys(task_id=task_id)
        link = get_link(task_id, Deadline.from_context(app.lambda_context))
        headers = {"Cache-Control": cache_control(link, datetime.now(UTC), cache_margin_seconds)}
        if wants_json(app.current_event.headers.get("accept"), app.current_event.query_string_parameters):
            logger.append_keys(outcome="json")
            return Response(
                status_code=200,
                content_type=content_types.APPLICATION_JSON,
                body=json.dumps(link_document(link)),
                headers=headers,
            )
        metrics.add_metric(name="Redirects", unit=MetricUnit.Count, value=1)
        logger.append_keys(outcome="redirect")
        return Response(
            status_code=302, content_type=None, body="", headers={**headers, "Location": link.url}
        )

    @app.exception_handler(LumaDownloadError)  # type: ignore[untyped-decorator]
    def known_error(exc: LumaDownloadError) -> Response[str]:
        return fail(exc.status, exc.code, exc.message, exc.retry_after)

    @app.not_found
    def not_found(_: NotFoundError) -> Response[str]:
        path = app.current_event.path
        if path.startswith(_ROUTE_PREFIX) and path.endswith(_ROUTE_SUFFIX):
            if app.current_event.http_method.upper() in METHODS:
                # The route's pattern refused the id (a decoded "/", CR, LF, ...): say so, as for any bad id.
                try:
                    validate_task_id(path[len(_ROUTE_PREFIX) : -len(_ROUTE_SUFFIX)])
                except InvalidTaskIdError as exc:
                    return fail(exc.status, exc.code, exc.message)
            response = fail(405, "method_not_allowed", "use GET or HEAD")
            response.headers["Allow"] = ", ".join(METHODS)
            return response
        return fail(404, "not_found", f"no such route; use GET {_ROUTE_PREFIX}{{task_id}}{_ROUTE_SUFFIX}")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected_error(exc: Exception) -> Response[str]:
        # The trace goes to the log for the operator; the client gets a plain JSON error.
        logger.exception("unexpected error")
        return fail(500, "internal_error", "internal error")

    return app


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None,
    metrics: Metrics,
    logger: Logger,
    retry_after: int | None = None,
) -> Response[str]:
    count_error(metrics, code)
    logger.append_keys(outcome=code)
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


def cache_control(link: DownloadLink, now: datetime, margin_seconds: int) -> str:
    """Let the client reuse the redirect until shortly before the presigned URL dies."""
    if link.expires_at is None:
        return "no-store"
    max_age = int((link.expires_at - now).total_seconds()) - margin_seconds
    return f"private, max-age={max(max_age, 0)}"


def wants_json(accept: str | None, query: dict[str, str] | None) -> bool:
    if query and query.get("format") == "json":
        return True
    return accept is not None and "application/json" in accept.lower()


def request_id(app: ApiGatewayResolver) -> str | None:
    try:
        return str(app.current_event.request_context.request_id)  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError):
        return None
