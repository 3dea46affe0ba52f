"""Composition root: clients built once per container, the event's shape picks the front door.

Front doors: API Gateway HTTP API (payload 2.0), REST API (1.0), Lambda Function URL, and direct
invoke with ``{"task_id": ...}`` or ``{"task_ids": [...]}`` (Step Functions, other Lambdas). The work
lives in ``luma_download`` and fills one ``RequestRecord`` per request, which is logged and counted
here, once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import urllib3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import NoRegionError

from luma_download.errors import ConfigurationError, InvalidRequestError, LumaDownloadError
from luma_download.event_shapes import front_door
from luma_download.http_api import build_resolver
from luma_download.link_cache import LinkCache, cached
from luma_download.model import Deadline, LinkGetter, LinkOutcome
from luma_download.request_record import RequestRecord
from luma_download.secret_token import TokenSource
from luma_download.settings import load_settings
from luma_download.telemetry import log_json, report
from luma_download.transport import build_pool_manager
from luma_download.upstream import UpstreamClient
from luma_download.workflow import Archiver, invoke

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "luma-download")
logger = Logger(service=SERVICE, json_serializer=log_json)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LumaDownload"), service=SERVICE)

# Short SDK timeouts: Secrets Manager answers in milliseconds or not at all. One SDK retry (its
# backoff is at most 1 s): a throttled read then fails fast enough to answer 503 within the budget,
# and the caller (Step Functions, a client honouring Retry-After) retries.
SECRETS_CONFIG = Config(
    connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2}
)

Handler = Callable[[Any, LambdaContext], Any]


def secrets_provider() -> SecretsProvider | None:
    """The SDK's own variables (region, AWS_ENDPOINT_URL_SECRETS_MANAGER, ...) apply untouched."""
    try:
        return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=SECRETS_CONFIG))
    except NoRegionError:
        return None


@dataclass(frozen=True)
class Service:
    handle: Handler
    get_link: LinkGetter
    link_cache: LinkCache | None
    tokens: TokenSource | None
    # One resolver per HTTP front door ("http_api", "rest_api", "function_url"): the routes, for docs.
    resolvers: Mapping[str, ApiGatewayResolver]


def build_service(
    environ: Mapping[str, str],
    *,
    pool: urllib3.PoolManager,
    secrets: SecretsProvider | None,
    archive: Archiver | None = None,
) -> Service:
    """Wire settings, token, upstream, cache and resolvers; a bad setting becomes a 500 per request.

    ``archive`` serves ``"archive": true`` direct invokes (issue 9 wires it); without it they are
    ``InvalidRequestError``."""
    link_cache: LinkCache | None = None
    tokens: TokenSource | None = None
    get_link: LinkGetter
    try:
        settings = load_settings(environ)
        if secrets is None:
            raise ConfigurationError("AWS region is not set (AWS_DEFAULT_REGION)")
    except ConfigurationError as exc:
        logger.error("configuration error", extra={"detail": exc.detail})
        failure = exc

        def refuse(task_id: str, deadline: Deadline) -> LinkOutcome:
            raise failure

        get_link = refuse
        cache_margin = 0  # never used: every request fails before there is a link to cache
    else:
        tokens = TokenSource(
            secrets, settings.token_secret_id, settings.token_secret_field, settings.token_cache_seconds
        )
        client = UpstreamClient(pool=pool, settings=settings, tokens=tokens)
        link_cache = LinkCache(settings.url_cache_max_entries, settings.url_cache_margin_seconds)
        get_link = cached(client.fetch_download_link, link_cache)
        cache_margin = settings.url_cache_margin_seconds

    resolvers: dict[str, ApiGatewayResolver] = {
        door: build_resolver(resolver_cls, get_link, cache_margin_seconds=cache_margin)
        for door, resolver_cls in (
            ("http_api", APIGatewayHttpResolver),
            ("rest_api", APIGatewayRestResolver),
            ("function_url", LambdaFunctionUrlResolver),
        )
    }

    def serve(event: Any, context: LambdaContext, record: RequestRecord) -> Any:
        resolver = resolvers.get(record.front_door)
        if resolver is not None:
            request_id = event["requestContext"].get("requestId")
            record.correlation_id = request_id if isinstance(request_id, str) else None
            resolver.append_context(record=record)  # type: ignore[no-untyped-call]
            response = resolve(resolver, event, context)
            record.status = response.get("statusCode")
            return response
        if record.front_door != "direct":
            raise InvalidRequestError(
                "unsupported event: send an API Gateway or Function URL request, "
                'or {"task_id": "<id>"} or {"task_ids": ["<id>", ...]}'
            )
        return invoke(event, get_link, Deadline.from_context(context), record, archive)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handle(event: Any, context: LambdaContext) -> Any:
        record = RequestRecord(front_door=front_door(event))
        try:
            return serve(event, context, record)
        except LumaDownloadError as exc:
            record.failed(exc)
            raise
        except Exception as exc:
            record.crashed(exc)
            raise
        finally:
            report(record, logger, metrics)

    return Service(
        handle=handle, get_link=get_link, link_cache=link_cache, tokens=tokens, resolvers=resolvers
    )


def resolve(resolver: ApiGatewayResolver, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route an HTTP event. Route errors become JSON responses inside the resolver; what escapes it
    is an event missing a field API Gateway always sends, which only a hand-made event can be."""
    try:
        return resolver.resolve(event, context)
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidRequestError(f"malformed API Gateway event: {type(exc).__name__} {exc}") from None


pool = build_pool_manager()
secrets = secrets_provider()
service = build_service(os.environ, pool=pool, secrets=secrets)
lambda_handler = service.handle
