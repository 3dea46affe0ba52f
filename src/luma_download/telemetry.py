"""The one place a request is reported: its ``request done`` log line and its metrics."""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from luma_download.request_record import SERVED_OUTCOMES, RequestRecord


def log_json(document: dict[str, object]) -> str:
    """The Logger's serializer: orjson writes a request's line in a fraction of json.dumps' time."""
    try:
        return orjson.dumps(document, default=str).decode()
    except TypeError:  # a value orjson will not take (nested past 254 levels, an int past 64 bits)
        return json.dumps(document, default=str, ensure_ascii=False)


def log_message(text: Any) -> Any:
    """The Logger's deserializer: Powertools tries each message as JSON. Ours are plain text, so only
    one that looks like JSON is parsed (a failed parse costs an exception per line)."""
    return orjson.loads(text) if text[:1] in ("{", "[") else text


def build_logger(service: str) -> Logger:
    """The function's Logger: the ``request done`` line, JSON, without a ``location`` key.

    That line is always written from here, so its location says nothing: it is neither written nor
    looked up (the logging HOWTO's "Optimization": no caller frame walk, no thread or process
    names, none of which Powertools writes). Process-wide, which suits a Lambda function.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return Logger(service=service, json_serializer=log_json, json_deserializer=log_message, location=None)


def report(record: RequestRecord, logger: Logger, metrics: Metrics) -> None:
    """Log the record once and count it (EMF, flushed by ``log_metrics`` when the invocation ends).

    Each EMF metric costs a request ~8 us, so none is written twice over: every cache miss asks
    upstream, so misses are ``UpstreamLatency``'s sample count and hits the rest of ``Requests``
    (the line's ``outcome`` and ``link_cache`` split them exactly); ``Errors`` counts failures by code.
    """
    if record.archive is not None or record.source == "archive":
        count_archive(record, metrics)
    if record.front_door == "sqs":
        # An archive job, not a request: counted apart from Requests and Errors.
        metrics.add_metric(name="ArchiveJobs", unit=MetricUnit.Count, value=1)
        log_record(record, logger)
        return
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if record.upstream_ms is not None:
        metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=record.upstream_ms)
    outcome = record.outcome
    if outcome is not None and outcome not in SERVED_OUTCOMES:  # an error code
        count_error(metrics, outcome)
    if record.batch is not None:  # a batch's failed ids, so the error-code alarms see them too
        for code, count in record.batch.errors.items():
            count_error(metrics, code, count)
    log_record(record, logger)


def log_record(record: RequestRecord, logger: Logger) -> None:
    """The ``request done`` line: at ERROR for a bug (with its trace), else at INFO, and then built
    only when the logger would write it. With logging turned down (``POWERTOOLS_LOG_LEVEL=WARNING``)
    a request then costs no more than the framework's own dropped line; its metrics are unchanged.
    """
    if record.crash is not None:
        logger.error("request done", extra=record.log_fields(), exc_info=record.crash)
    elif writes_info(logger):
        logger.info("request done", extra=record.log_fields())


def writes_info(logger: Logger) -> bool:
    """Whether an INFO line would be written: the level Powertools set on its logger is the live one
    (``POWERTOOLS_LOGGER_SAMPLE_RATE`` lowers it to DEBUG for a sampled invocation, and back); unset
    (0), the logger decides. No log buffer is configured, which would keep dropped lines."""
    return logger.log_level <= logging.INFO


def count_archive(record: RequestRecord, metrics: Metrics) -> None:
    """``ArchiveHits``, ``ArchiveCopies``, ``ArchiveBytes``, ``ArchiveFailures`` by ``Cause``, and
    ``ArchiveEventsFailed`` (a job's EventBridge event not sent).

    A hit is a request answered with a link to a copy, from a lookup or from the link cache.
    """
    if record.archive == "hit" or (record.archive is None and record.source == "archive"):
        metrics.add_metric(name="ArchiveHits", unit=MetricUnit.Count, value=1)
    elif record.archive == "copied":
        metrics.add_metric(name="ArchiveCopies", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="ArchiveBytes", unit=MetricUnit.Bytes, value=record.archive_bytes or 0)
    elif record.archive == "unavailable":
        count_by(metrics, "ArchiveFailures", "Cause", "lookup")
    elif record.archive == "failed":
        count_by(metrics, "ArchiveFailures", "Cause", record.outcome or "internal_error")
    if record.archive_enqueue == "failed":
        count_by(metrics, "ArchiveFailures", "Cause", "enqueue")
    if record.archive_event == "failed":  # the job stands: not an ArchiveFailures cause
        metrics.add_metric(name="ArchiveEventsFailed", unit=MetricUnit.Count, value=1)


def count_error(metrics: Metrics, code: str, count: int = 1) -> None:
    """One ``Errors`` data point with an ``ErrorCode`` dimension, so alarms can split by code."""
    count_by(metrics, "Errors", "ErrorCode", code, count)


def count_by(metrics: Metrics, name: str, dimension: str, value: str, count: int = 1) -> None:
    """``count`` of ``name`` with its own dimension (EMF: a blob of its own)."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=count,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)
