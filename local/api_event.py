"""API Gateway's HTTP API, as the function sees it: the event a request becomes, and what API Gateway
makes of the function's answer (payload format 2.0). Pure functions; ``local.api_server`` serves them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

ROUTE_TEMPLATE: Final = "/luma/generations/{task_id}/download_video_url"
ROUTE_METHODS: Final = ("GET", "HEAD")  # template.yaml's HttpApi events
_ROUTE = re.compile(r"^/luma/generations/(?P<task_id>[^/]+)/download_video_url$")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))"
)


def new_request_id() -> str:
    """Shaped like API Gateway's: 16 characters of base64, e.g. ``Cf3nPjRNoAMEV4g=``."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def _clf_time(now: datetime) -> str:
    return f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000"


def _loopback_name(host_header: str | None) -> str:
    """The API's domain name: the Host the client used when it is a loopback name, else 127.0.0.1."""
    host = (urlsplit(f"//{host_header}").hostname or "") if host_header else ""
    if host == "localhost" or host.startswith("127.") or host == "::1":
        return host
    return "127.0.0.1"


def build_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes = b"",
    *,
    server_port: int,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The event API Gateway's HTTP API sends a Lambda integration (payload format 2.0).

    As HTTP APIs do: ``rawPath`` and path parameters arrive percent-decoded, header names lower-cased
    and repeated headers joined with commas, cookies moved out of the headers, repeated query
    parameters joined with commas, X-Forwarded-* and X-Amzn-Trace-Id added, binary bodies base64.
    """
    now = now or datetime.now(UTC)
    request_id = request_id or new_request_id()
    path_part, _, raw_query = target.partition("?")
    path_part = path_part.partition("#")[0] or "/"
    path = unquote(path_part, errors="replace")

    joined: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    forwarded = joined.get("x-forwarded-for")
    joined["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    joined["x-forwarded-port"] = str(server_port)
    joined["x-forwarded-proto"] = "http"
    joined.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")

    match = _ROUTE.match(path)
    route_key = f"{method} {ROUTE_TEMPLATE}" if match and method in ROUTE_METHODS else "$default"
    domain = _loopback_name(joined.get("host"))

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if raw_query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    event["requestContext"] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": _clf_time(now),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if match:
        event["pathParameters"] = {"task_id": match["task_id"]}
    if body:
        content_type = joined.get("content-type", "")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and _TEXT_TYPES.match(content_type.lower()):
            event["body"], event["isBase64Encoded"] = text, False
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["isBase64Encoded"] = False
    return event


@dataclass
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_answer(status: int, document: object, request_id: str) -> HttpAnswer:
    """An answer API Gateway writes itself (an error of its own, or a non-proxy return value)."""
    body = json.dumps(document).encode()
    return HttpAnswer(status, [("Content-Type", "application/json"), ("apigw-requestid", request_id)], body)


def to_http(result: Any, request_id: str) -> HttpAnswer:
    """What API Gateway makes of the function's return value (payload format 2.0)."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        # HTTP APIs infer 200 and a JSON body when the function returns anything else.
        return json_answer(200, result, request_id)
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return json_answer(500, {"message": "Internal Server Error"}, request_id)
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or ())
    headers.append(("apigw-requestid", request_id))
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw))
    else:
        body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    return HttpAnswer(status, headers, body)
