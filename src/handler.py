"""Composition root: clients built once per container, the event's shape picks the front door.

Front doors: API Gateway HTTP API (payload 2.0), REST API (1.0), Lambda Function URL, direct
invoke with ``{"task_id": ...}`` or ``{"task_ids": [...]}`` (Step Functions, other Lambdas), and SQS
batches of archive jobs.
The work lives in ``luma_download`` and fills one ``RequestRecord`` per request (per job for SQS),
which is logged and counted here, once.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
import urllib3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    LambdaFunctionUrlResolver,
)
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import NoRegionError

from luma_download.aggregator.client import UpstreamClient
from luma_download.aggregator.secret_token import TokenSource
from luma_download.aggregator.transport import (
    Timeouts,
    VideoStream,
    build_host_pool,
    build_pool_manager,
    open_video,
)
from luma_download.errors import (
    ArchiveDisabledError,
    ConfigurationError,
    InvalidRequestError,
    LumaDownloadError,
)
from luma_download.front_doors.direct_invoke import invoke
from luma_download.front_doors.event_shapes import front_door
from luma_download.front_doors.http_api import build_resolver
from luma_download.link_cache import LinkCache, cached
from luma_download.model import ArchiveEvents, Archiver, CopyOutcome, Deadline, LinkGetter, LinkOutcome
from luma_download.request_record import RequestRecord
from luma_download.settings import Settings, load_settings
from luma_download.telemetry import build_logger, report

if TYPE_CHECKING:  # a type only: its module costs 0.4 ms of every cold start
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "luma-download")
logger = build_logger(SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LumaDownload"), service=SERVICE)

# Short SDK timeouts: Secrets Manager answers in milliseconds or not at all. One SDK retry (its
# backoff is at most 1 s): a throttled read then fails fast enough to answer 503 within the budget,
# and the caller (Step Functions, a client honouring Retry-After) retries.
SECRETS_CONFIG = Config(
    connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2}
)
# The archive: S3 answers a HeadObject in milliseconds; an 8 MiB part may take a few seconds.
# SigV4 for presigned links, whatever the region.
ARCHIVE_S3_CONFIG = Config(
    signature_version="s3v4",
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)
# Sending a job is on the request path: fail fast, the request does not depend on it.
ARCHIVE_SQS_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
)
# The worker's events: a note on a job, which waits for one at most 2 s (``archive.events``).
ARCHIVE_EVENTS_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
)

Handler = Callable[[Any, "LambdaContext"], Any]


def secrets_provider() -> SecretsProvider | None:
    """The SDK's own variables (region, AWS_ENDPOINT_URL_SECRETS_MANAGER, ...) apply untouched."""
    try:
        return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=SECRETS_CONFIG))
    except NoRegionError:
        return None


class ArchiveClients(NamedTuple):
    """The archive's AWS clients, and the credentials they sign with (to learn their expiry)."""

    s3: Any
    sqs: Any | None  # None: no ARCHIVE_QUEUE_URL, so no jobs are sent
    credentials: Any
    events: Any | None = None  # EventBridge; None: no EVENT_BUS_NAME, so no events are put


def archive_clients(environ: Mapping[str, str]) -> ArchiveClients | None:
    """Clients for the archive, when it is on; the SDK's variables (AWS_ENDPOINT_URL_S3, ...) apply."""
    if not environ.get("ARCHIVE_BUCKET", "").strip():
        return None
    try:
        session = boto3.Session()
        sqs = session.client("sqs", config=ARCHIVE_SQS_CONFIG) if environ.get("ARCHIVE_QUEUE_URL") else None
        events = (
            session.client("events", config=ARCHIVE_EVENTS_CONFIG)
            if environ.get("EVENT_BUS_NAME", "").strip()
            else None
        )
        return ArchiveClients(
            session.client("s3", config=ARCHIVE_S3_CONFIG), sqs, session.get_credentials(), events
        )
    except NoRegionError:
        return None


class Service(NamedTuple):
    handle: Handler
    get_link: LinkGetter
    link_cache: LinkCache | None
    tokens: TokenSource | None
    # One resolver per HTTP front door ("http_api", "rest_api", "function_url"): the routes, for docs.
    resolvers: Mapping[str, ApiGatewayResolver]
    # Archives a task now (direct invoke with "archive": true, SQS jobs); None: archiving is off.
    archive_now: Archiver | None = None


class Work(NamedTuple):
    """What the front doors serve: the link getter (behind the cache) and what it is made of."""

    get_link: LinkGetter
    link_cache: LinkCache | None
    tokens: TokenSource | None
    archive_now: Archiver | None  # None: archiving is off
    archive_events: ArchiveEvents | None  # the worker's; None: it puts no events
    cache_margin: int


def wire_work(
    environ: Mapping[str, str],
    *,
    pool: urllib3.PoolManager,
    secrets: SecretsProvider | None,
    archive: ArchiveClients | None,
) -> Work:
    """Settings, token, upstream, archive and cache; a bad setting: every request fails with it."""
    try:
        settings = load_settings(environ)
        if secrets is None or (settings.archive_on and archive is None):
            raise ConfigurationError("AWS region is not set (AWS_DEFAULT_REGION)")
    except ConfigurationError as exc:
        logger.error("configuration error", extra={"detail": exc.detail})
        get_link, archive_now = refusing(exc)
        # No cache: every request fails before there is a link to cache.
        return Work(get_link, None, None, archive_now, None, cache_margin=0)
    tokens = TokenSource(
        secrets, settings.token_secret_id, settings.token_secret_field, settings.token_cache_seconds
    )
    # The aggregator's calls and the archive's video downloads: the same bounds, built once.
    timeouts = Timeouts(settings.upstream_connect_timeout, settings.upstream_read_timeout)
    client = UpstreamClient(
        pool=build_host_pool(settings.upstream_base_url),
        timeouts=timeouts,
        settings=settings,
        tokens=tokens,
    )
    fetch: LinkGetter = client.fetch_download_link
    archiver: Archiver | None = None
    archive_events: ArchiveEvents | None = None
    if settings.archive_on and archive is not None:
        fetch, archiver = with_archive(settings, archive, client, pool, timeouts, secrets=secrets)
        archive_events = worker_events(settings, archive)
    link_cache = LinkCache(
        settings.url_cache_max_entries,
        settings.url_cache_margin_seconds,
        recheck_seconds=settings.archive_recheck_seconds if settings.archive_on else None,
    )
    return Work(
        cached(fetch, link_cache),
        link_cache,
        tokens,
        archiver,
        archive_events,
        cache_margin=settings.url_cache_margin_seconds,
    )


def build_service(
    environ: Mapping[str, str],
    *,
    pool: urllib3.PoolManager,
    secrets: SecretsProvider | None,
    archive: ArchiveClients | None = None,
) -> Service:
    """The work (``wire_work``) behind the front doors: the handler, which picks one per event."""
    work = wire_work(environ, pool=pool, secrets=secrets, archive=archive)
    get_link, archive_now, archive_events = work.get_link, work.archive_now, work.archive_events
    resolvers = http_resolvers(get_link, work.cache_margin)

    def serve(event: Any, context: LambdaContext, record: RequestRecord) -> Any:
        resolver = resolvers.get(record.front_door)
        if resolver is not None:
            request_id = event["requestContext"].get("requestId")
            record.correlation_id = request_id if isinstance(request_id, str) else None
            resolver.append_context(record=record)  # type: ignore[no-untyped-call]
            try:
                response = resolver.resolve(event, context)
            except (KeyError, TypeError, AttributeError) as exc:
                # Route errors are JSON answers inside the resolver: what escapes it is an event
                # missing a field API Gateway always sends, which only a hand-made event can be.
                raise InvalidRequestError(
                    f"malformed API Gateway event: {type(exc).__name__} {exc}"
                ) from None
            record.status = response.get("statusCode")
            return response
        if record.front_door != "direct":
            raise InvalidRequestError(
                "unsupported event: send an API Gateway or Function URL request, "
                'or {"task_id": "<id>"} or {"task_ids": ["<id>", ...]}, with string keys throughout'
            )
        return invoke(event, get_link, Deadline.from_context(context), record, archive_now)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handle(event: Any, context: LambdaContext) -> Any:
        record = RequestRecord(front_door(event))
        if record.front_door == "sqs":
            return consume_jobs(event, context, archive_now or no_archive, report_job, archive_events)
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
        handle=handle,
        get_link=get_link,
        link_cache=work.link_cache,
        tokens=work.tokens,
        resolvers=resolvers,
        archive_now=archive_now,
    )


def with_archive(
    settings: Settings,
    clients: ArchiveClients,
    client: UpstreamClient,
    pool: urllib3.PoolManager,
    timeouts: Timeouts,
    *,
    secrets: SecretsProvider,
) -> tuple[LinkGetter, Archiver]:
    """The aggregator behind the archive (for the link cache to wrap), and archiving a task now.

    The archive's modules load here, only where the archive is on: a stack without it (and the
    request path's cold start) does not pay for them. With ARCHIVE_CDN_DOMAIN, links to copies are
    CloudFront's, signed with the key in its secret, read through the token's provider on the first
    link (``cryptography`` loads then, not here).
    """
    from luma_download.archive.copying import copy_task  # noqa: PLC0415
    from luma_download.archive.lookup import archive_first  # noqa: PLC0415
    from luma_download.archive.store import Archive  # noqa: PLC0415

    cdn = None
    if settings.archive_cdn_on:
        from luma_download.archive.cdn_links import SigningKey  # noqa: PLC0415

        cdn = SigningKey(
            secrets,
            settings.archive_cdn_key_secret_id,
            settings.archive_cdn_key_id,
            settings.archive_cdn_domain,
        )
    archive = Archive(
        clients.s3,
        settings.archive_bucket,
        settings.archive_prefix,
        settings.archive_link_seconds,
        clients.credentials,
        cdn,
    )

    def download(url: str, deadline: Deadline) -> VideoStream:
        return open_video(
            pool,
            url,
            deadline=deadline,
            timeouts=timeouts,
            max_bytes=settings.archive_max_bytes,
            allowed_hosts=settings.allowed_redirect_hosts,
            allow_loopback=settings.upstream_is_loopback,
        )

    def archive_now(task_id: str, deadline: Deadline) -> CopyOutcome:
        return copy_task(
            task_id, deadline, archive=archive, resolve=client.fetch_download_link, download=download
        )

    fetch = archive_first(
        client.fetch_download_link, archive, sqs=clients.sqs, queue_url=settings.archive_queue_url
    )
    return fetch, archive_now


def worker_events(settings: Settings, clients: ArchiveClients) -> ArchiveEvents | None:
    """Where the worker tells what its jobs did: only with an EventBridge client (EVENT_BUS_NAME)."""
    if clients.events is None:
        return None
    return ArchiveEvents(clients.events, settings.event_bus_name, settings.archive_max_receives)


def report_job(job: RequestRecord) -> None:
    report(job, logger, metrics)


def consume_jobs(
    event: Any,
    context: LambdaContext,
    archive_now: Archiver,
    report_job: Callable[[RequestRecord], None],
    events: ArchiveEvents | None = None,
) -> Any:
    """An SQS batch of archive jobs, through the Powertools batch utility (loaded by workers only);
    with ``events``, each new copy and each job given up is told on EventBridge."""
    from luma_download.archive.worker import consume  # noqa: PLC0415

    return consume(event, context, archive_now, report_job, events)


def refusing(failure: ConfigurationError) -> tuple[LinkGetter, Archiver]:
    """A link getter and an archiver that both raise ``failure``: the service is misconfigured."""

    def refuse(task_id: str, deadline: Deadline) -> LinkOutcome:
        raise failure

    def refuse_copy(task_id: str, deadline: Deadline) -> CopyOutcome:
        raise failure

    return refuse, refuse_copy


def no_archive(task_id: str, deadline: Deadline) -> CopyOutcome:
    raise ArchiveDisabledError()


def http_resolvers(get_link: LinkGetter, cache_margin: int) -> dict[str, ApiGatewayResolver]:
    """One resolver per HTTP front door, each with the route (``front_doors.http_api``)."""
    return {
        door: build_resolver(resolver_cls, get_link, cache_margin_seconds=cache_margin)
        for door, resolver_cls in (
            ("http_api", APIGatewayHttpResolver),
            ("rest_api", APIGatewayRestResolver),
            ("function_url", LambdaFunctionUrlResolver),
        )
    }


# What the imports made lives as long as the container: frozen, the collector no longer walks it,
# neither while the SDK clients are built (a full collection there cost ~13 ms of every cold start)
# nor in the warm invocations after. Once more at the end, for the clients themselves.
gc.freeze()
pool = build_pool_manager()
secrets = secrets_provider()
archive_aws = archive_clients(os.environ)
service = build_service(os.environ, pool=pool, secrets=secrets, archive=archive_aws)
lambda_handler = service.handle
gc.freeze()
