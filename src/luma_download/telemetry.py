"""The one place a request is reported: its ``request done`` log line and its metrics."""

from __future__ import annotations

import json

import orjson
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from luma_download.request_record import RequestRecord


def log_json(document: dict[str, object]) -> str:
    """The Logger's serializer: orjson writes a request's line in a fraction of json.dumps' time."""
    try:
        return orjson.dumps(document, default=str).decode()
    except TypeError:  # a value orjson will not take (nested past 254 levels, an int past 64 bits)
        return json.dumps(document, default=str, ensure_ascii=False)


def report(record: RequestRecord, logger: Logger, metrics: Metrics) -> None:
    """Log the record once and count it (EMF, flushed by ``log_metrics`` when the invocation ends).

    Each EMF metric costs a request ~8 us, so none is written twice over: every cache miss asks
    upstream, so misses are ``UpstreamLatency``'s sample count and hits the rest of ``Requests``
    (the line's ``outcome`` and ``link_cache`` split them exactly); ``Errors`` counts failures by code.
    """
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if record.upstream_ms is not None:
        metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=record.upstream_ms)
    error_code = record.error_code
    if error_code is not None:
        count_error(metrics, error_code)
    if record.batch is not None:  # a batch's failed ids, so the error-code alarms see them too
        for code, count in record.batch.errors.items():
            count_error(metrics, code, count)
    if record.crash is not None:
        logger.error("request done", extra=record.log_fields(), exc_info=record.crash)
    else:
        logger.info("request done", extra=record.log_fields())


def count_error(metrics: Metrics, code: str, count: int = 1) -> None:
    """One ``Errors`` data point with an ``ErrorCode`` dimension, so alarms can split by code."""
    with single_metric(
        name="Errors",
        unit=MetricUnit.Count,
        value=count,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="ErrorCode", value=code)
