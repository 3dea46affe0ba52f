"""Which front door an event came through. The resolvers crash on shapes they do not know: ask first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from luma_download.workflow import is_direct_invoke

FrontDoor = Literal["direct", "http_api", "rest_api", "function_url", "unknown"]


def front_door(event: object) -> FrontDoor:
    if is_direct_invoke(event):
        return "direct"
    if not isinstance(event, Mapping) or not isinstance(event.get("requestContext"), Mapping):
        return "unknown"
    context = event["requestContext"]
    if event.get("version") == "2.0" and isinstance(context.get("http"), Mapping):
        if not isinstance(event.get("rawPath"), str) or not isinstance(context["http"].get("method"), str):
            return "unknown"
        # Function URL events look like HTTP API ones; only the domain tells them apart.
        return "function_url" if ".lambda-url." in str(context.get("domainName", "")) else "http_api"
    if isinstance(event.get("httpMethod"), str) and isinstance(event.get("path"), str):
        return "rest_api"
    return "unknown"
