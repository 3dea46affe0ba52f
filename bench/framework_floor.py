"""The framework floor: the least a handler on the product's required stack does per request.

Only the Powertools pieces the product needs on every request, used the plain way: the HTTP API
resolver routing the same path, Logger's context injection and one INFO line, Metrics with one count
flushed as EMF, and a constant 302. No token, no upstream, no cache: what the function adds on top
of this is ours to answer for (``make bench``: hit / framework floor).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

LOCATION = "https://example.r2.cloudflarestorage.com/video.mp4"

logger = Logger(service="framework-floor")
metrics = Metrics(namespace="LumaDownload", service="framework-floor")
app = APIGatewayHttpResolver()


@app.route("/luma/generations/<task_id>/download_video_url", method=["GET", "HEAD"])
def download_video_url(task_id: str) -> Response[str]:
    return Response(status_code=302, content_type=None, body="", headers={"Location": LOCATION})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    response = app.resolve(event, context)
    logger.info("request done", extra={"status": response["statusCode"]})
    return response
