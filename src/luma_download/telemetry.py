"""Metrics shared by the HTTP and the direct-invoke paths."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric


def count_error(metrics: Metrics, code: str) -> None:
    """One ``Errors`` data point with an ``ErrorCode`` dimension, so alarms can split by code."""
    with single_metric(
        name="Errors",
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="ErrorCode", value=code)
