"""The aggregator client's own connection pool: the base URL's path kept in every call, and its
connection kept whatever hosts the container downloads videos from."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from local.aggregator import Aggregator
from local.lambda_context import LocalLambdaContext
from tests.integration.conftest import completed

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"
VIDEO_POOLS = 4  # transport.build_pool_manager's num_pools: hosts it keeps a pool for at once


def test_a_base_url_with_a_path_prefixes_every_upstream_call(
    variant: Callable[..., Any], aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given an aggregator behind a path (a reseller serving the API under /v1)
    completed(aggregator, TASK)
    handle = variant(UPSTREAM_BASE_URL=f"{aggregator.base_url}/v1/")

    handle(event("http_api_get.json"), LocalLambdaContext())

    # Then the call went to that path (the simulator knows only the bare one, hence its 404), over
    # a connection of the new container's own (the count the next test relies on sees it)
    assert [r.path for r in aggregator.requests] == [f"/v1/luma/generations/{TASK}/download_video_url"]
    assert aggregator.connections == 1


def test_the_aggregator_connection_outlives_downloads_from_many_video_hosts(
    function: ModuleType, variant: Callable[..., Any], aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given a container that has asked the aggregator once (its connection is open)
    handle = variant(URL_CACHE_MAX_ENTRIES="0")
    completed(aggregator, TASK)
    assert handle(event("http_api_get.json"), LocalLambdaContext())["statusCode"] == 302
    opened = aggregator.connections

    # When the same container then fetches from more video hosts than its video pool keeps
    video_hosts = [Aggregator().start() for _ in range(VIDEO_POOLS + 1)]
    try:
        for host in video_hosts:
            function.pool.request("GET", f"{host.base_url}/files/video.mp4", retries=False)
    finally:
        for host in video_hosts:
            host.stop()

    # Then the next aggregator call still goes over that first connection
    assert handle(event("http_api_get.json"), LocalLambdaContext())["statusCode"] == 302
    assert (len(aggregator.requests), aggregator.connections) == (2, opened)
