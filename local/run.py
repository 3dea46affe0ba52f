"""``make run``: the whole product on one machine, on loopback, answering as the deployed API would.

Run as ``python -m local.run``. Three ways, picked from the environment:

- demo (no ``UPSTREAM_BASE_URL``): embedded AWS (moto server mode) holds the token secret; the
  aggregator simulator knows three demo tasks (completed, processing, failed) and serves the
  completed one's video (``local/assets/demo.mp4``) itself, through a fresh presigned-style link on
  every request; the archive is on (``local.archive_demo``: an embedded bucket and queue, and a
  poller playing the worker's SQS event source);
- real aggregator, real Secrets Manager (``UPSTREAM_BASE_URL`` and ``TOKEN_SECRET_ID``): nothing
  embedded, the usual AWS credentials and region apply;
- real aggregator, token from the environment (``UPSTREAM_BASE_URL`` and ``UPSTREAM_TOKEN``): only an
  embedded Secrets Manager, holding the token, which is never printed or logged.

The local API is a ``ThreadingHTTPServer`` on ``127.0.0.1:$PORT`` (default 3000, ``PORT=0`` picks a
free port) that turns every request into the API Gateway HTTP API event (payload format 2.0) and calls
``handler.lambda_handler`` with a fresh Lambda context, one call at a time (a Lambda container never
runs two invocations at once; the Powertools resolvers keep per-request state), while the server
accepts and queues concurrent requests.

Output: stdout carries only what to try (the ready lines); stderr carries one access line per request
and everything the function writes (its JSON log lines and EMF metric lines, which Lambda would send
to CloudWatch). Ctrl-C or SIGTERM stops everything and exits 0.
"""

from __future__ import annotations

import base64
import contextlib
import http
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3

from local.aggregator import Aggregator, FakeTask
from local.archive_demo import ArchiveDemo, start_archive_demo
from local.aws import EmbeddedAws, start_embedded_aws
from local.lambda_context import LocalLambdaContext

REPO: Final = Path(__file__).resolve().parent.parent
SRC: Final = REPO / "src"
DEMO_MP4: Final = REPO / "local" / "assets" / "demo.mp4"

DEFAULT_PORT: Final = 3000
LAMBDA_TIMEOUT_SECONDS: Final = 15.0  # template.yaml: Timeout: 15
MAX_BODY_BYTES: Final = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit

SECRET_ID: Final = "luma/aggregator-token"  # noqa: S105 (a secret's name)
DEMO_TOKEN: Final = "demo-token"  # noqa: S105 (the simulator's made-up token)

ROUTE_TEMPLATE: Final = "/luma/generations/{task_id}/download_video_url"
ROUTE_METHODS: Final = ("GET", "HEAD")  # template.yaml's HttpApi events
_ROUTE = re.compile(r"^/luma/generations/(?P<task_id>[^/]+)/download_video_url$")

# The ready block: the first line names the API, the last line says how to stop.
LISTENING_PREFIX: Final = "luma-download local API listening on "
STOP_LINE_PREFIX: Final = "Stop: "

FUNCTION_ENV: Final = {
    "POWERTOOLS_SERVICE_NAME": "luma-download",
    "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
}

Invoke = Callable[[dict[str, Any], Any], Any]


class StartupError(Exception):
    """The environment asks for something that cannot run; the message says what to change."""


# -- demo backends -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoTask:
    label: str  # completed / processing / failed
    task_id: str
    expect: str  # what the local API answers, for the ready lines
    state: str
    failure_reason: str | None = None


DEMO_TASKS: Final = (
    DemoTask("completed", "4f6c2b1e-8d3a-4c7e-9f21-6b0d5e8a3c47", "302 to the MP4", "completed"),
    DemoTask("processing", "9a1e7d34-2b5f-4e08-a6c3-1d8f0b7e5a92", "409 video_not_ready", "processing"),
    DemoTask(
        "failed",
        "c3d85f0a-71e2-4b96-8a4d-e29b6f1c0d58",
        "410 task_failed",
        "failed",
        failure_reason="400: prompt not allowed because advanced moderation failed",
    ),
)


@dataclass
class DemoBackends:
    """Embedded AWS (the secret) and the aggregator simulator with the demo tasks and their video."""

    aws: EmbeddedAws
    aggregator: Aggregator
    tasks: tuple[DemoTask, ...]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.aggregator.stop()
        with contextlib.suppress(Exception):
            self.aws.stop()


def start_demo_backends(
    mp4: Path = DEMO_MP4,
    *,
    token: str = DEMO_TOKEN,
    secret_id: str = SECRET_ID,
    secret_field: str = "token",  # noqa: S107 (a JSON field name)
    tasks: Iterable[DemoTask] = DEMO_TASKS,
) -> DemoBackends:
    """Start moto and the simulator on loopback; nothing here touches ``os.environ``."""
    data = mp4.read_bytes()
    tasks = tuple(tasks)
    aws = start_embedded_aws()
    aggregator: Aggregator | None = None
    try:
        aws.put_token(secret_id, token, field=secret_field)
        aggregator = Aggregator(tokens=(token,))
        for task in tasks:
            aggregator.tasks[task.task_id] = FakeTask(
                state=task.state,
                url=aggregator.serve_file(task.task_id, data) if task.state == "completed" else None,
                failure_reason=task.failure_reason,
            )
        aggregator.start()
    except BaseException:
        if aggregator is not None:
            with contextlib.suppress(Exception):
                aggregator.stop()
        aws.stop()
        raise
    return DemoBackends(aws=aws, aggregator=aggregator, tasks=tasks)


# -- the API Gateway HTTP API event (payload format 2.0) -----------------------------------------

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
    source_ip: str = "127.0.0.1",
    server_port: int = DEFAULT_PORT,
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


def _json_answer(status: int, document: object, request_id: str) -> HttpAnswer:
    body = json.dumps(document).encode()
    return HttpAnswer(status, [("Content-Type", "application/json"), ("apigw-requestid", request_id)], body)


def to_http(result: Any, request_id: str) -> HttpAnswer:
    """What API Gateway makes of the function's return value (payload format 2.0)."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        # HTTP APIs infer 200 and a JSON body when the function returns anything else.
        return _json_answer(200, result, request_id)
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return _json_answer(500, {"message": "Internal Server Error"}, request_id)
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


# -- the local API server ------------------------------------------------------------------------

_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def _loggable_path(target: str) -> str:
    """The request path for the access log: no query string (it may hold signatures), printable."""
    path = target.partition("?")[0].partition("#")[0]
    return _UNPRINTABLE.sub(lambda m: f"%{ord(m.group()):02X}", path)[:300]


class LocalApi:
    """The API Gateway stand-in: accepts concurrently, invokes the function one call at a time."""

    def __init__(
        self,
        invoke: Invoke,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS,
        access_log: IO[str] | None = None,
    ) -> None:
        self._invoke = invoke
        self._timeout = timeout_seconds
        self._access_log = access_log
        # Held for each invocation, also by the archive poller's (local.archive_demo).
        self.invoke_lock = threading.Lock()
        self._log_lock = threading.Lock()
        server_cls = type("LocalApiServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
        self._server: ThreadingHTTPServer = server_cls((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalApi:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def answer(self, event: dict[str, Any]) -> HttpAnswer:
        """Invoke the function with ``event`` (serialized) and translate its answer."""
        request_id = str(event["requestContext"]["requestId"])
        with self.invoke_lock:
            context = LocalLambdaContext(timeout_seconds=self._timeout)  # counts down from here
            try:
                result = self._invoke(event, context)
            except Exception:
                # Lambda reports an unhandled error; API Gateway answers 500 with its own body.
                traceback.print_exc(file=sys.stderr)
                return _json_answer(500, {"message": "Internal Server Error"}, request_id)
        return to_http(result, request_id)

    def log_access(self, method: str, target: str, status: int, elapsed_ms: float) -> None:
        stream = self._access_log or sys.stderr
        with self._log_lock:
            stream.write(f"local-api {method} {_loggable_path(target)} {status} {elapsed_ms:.1f} ms\n")
            stream.flush()


def _handler_for(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def __getattr__(self, name: str) -> Callable[[], None]:
            if name.startswith("do_"):  # every method reaches the function, as on a $default route
                return self._serve
            raise AttributeError(name)

        def _serve(self) -> None:
            started = time.perf_counter()
            length = self.headers.get("Content-Length", "0").strip() or "0"
            request_id = new_request_id()
            if not length.isdigit():
                answer = _json_answer(400, {"message": "Bad Request"}, request_id)
            elif int(length) > MAX_BODY_BYTES:
                answer = _json_answer(413, {"message": "Request Entity Too Large"}, request_id)
                self.close_connection = True
            else:
                body = self.rfile.read(int(length)) if int(length) else b""
                event = build_event(
                    self.command,
                    self.path,
                    self.headers.items(),
                    body,
                    source_ip=self.client_address[0],
                    server_port=api.port,
                    protocol=self.request_version,
                    request_id=request_id,
                )
                answer = api.answer(event)
            self._write(answer)
            api.log_access(self.command, self.path, answer.status, (time.perf_counter() - started) * 1000)

        def _write(self, answer: HttpAnswer) -> None:
            try:
                phrase = http.HTTPStatus(answer.status).phrase
            except ValueError:
                phrase = ""
            no_body = self.command == "HEAD" or answer.status in (204, 304) or answer.status < 200
            try:
                self.send_response_only(answer.status, phrase)
                self.send_header("Date", self.date_time_string())
                for name, value in answer.headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Access lines come from ``LocalApi.log_access``; the stdlib's would show query strings."""

    return Handler


# -- modes and the whole run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str  # demo / secrets-manager / token
    description: str


def choose_mode(environ: Mapping[str, str]) -> Mode:
    base_url = environ.get("UPSTREAM_BASE_URL", "").strip()
    has_token = bool(environ.get("UPSTREAM_TOKEN", "").strip())
    has_secret = bool(environ.get("TOKEN_SECRET_ID", "").strip())
    if not base_url:
        if has_token:
            raise StartupError("UPSTREAM_TOKEN is set but UPSTREAM_BASE_URL is not: set both, or neither")
        return Mode("demo", "demo: aggregator simulator and embedded AWS (moto) on loopback")
    if has_token:
        return Mode("token", "real aggregator, token held in an embedded Secrets Manager")
    if has_secret:
        return Mode("secrets-manager", "real aggregator, token from the real Secrets Manager")
    raise StartupError(
        "UPSTREAM_BASE_URL is set: also set TOKEN_SECRET_ID (a Secrets Manager secret, with AWS "
        "credentials and region as usual) or UPSTREAM_TOKEN (kept in an embedded Secrets Manager)"
    )


@dataclass
class LocalRun:
    """Everything ``make run`` started; ``stop()`` undoes it in reverse order."""

    mode: Mode
    api: LocalApi | None = None
    demo: DemoBackends | None = None
    archive: ArchiveDemo | None = None  # demo mode only
    aws: EmbeddedAws | None = None  # token mode only
    started: float = field(default_factory=time.monotonic)
    ready_seconds: float = 0.0

    def task_url(self, task_id: str) -> str:
        assert self.api is not None
        return f"{self.api.url}{ROUTE_TEMPLATE.format(task_id=task_id)}"

    def ready_lines(self) -> list[str]:
        assert self.api is not None
        started = f"started in {self.ready_seconds:.1f} s"
        lines = [f"{LISTENING_PREFIX}{self.api.url} ({self.mode.description}; {started})"]
        if self.demo is not None:
            backends = self.demo.aggregator.base_url, self.demo.aws.endpoint
            lines.append("  aggregator simulator {}, embedded AWS (moto) {}".format(*backends))
        elif self.aws is not None:
            lines.append(f"  embedded Secrets Manager (moto) {self.aws.endpoint}, secret {SECRET_ID}")
        if self.demo is not None:
            tasks = sorted(self.demo.tasks, key=lambda t: t.state != "completed")
            width = max(len(t.label) for t in tasks)
            lines.append("Demo tasks (open the first in a browser to watch the video):")
            lines += [f"  {t.label:<{width}}  {self.task_url(t.task_id)}  -> {t.expect}" for t in tasks]
            example = self.task_url(tasks[0].task_id)
        else:
            example = self.task_url("<task_id>")
            lines.append(f"Try: {example}")
        lines.append(f"JSON instead of a redirect: curl -s '{example}?format=json'")
        if self.archive is not None:
            lines += self.archive.ready_lines()
        lines.append(f"{STOP_LINE_PREFIX}Ctrl-C (or kill -TERM {os.getpid()})")
        return lines

    def stop(self) -> None:
        if self.archive is not None:
            self.archive.stop()
        if self.api is not None:
            self.api.stop()
        if self.demo is not None:
            self.demo.stop()
        if self.aws is not None:
            with contextlib.suppress(Exception):
                self.aws.stop()


def start_local(
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    access_log: IO[str] | None = None,
) -> LocalRun:
    """Start the parts the environment asks for, set the function's variables, import it, serve.

    The function reads ``os.environ`` when ``handler`` is imported, so this changes ``os.environ`` and
    must run before anything in the process imports ``handler``. On failure, whatever started is
    stopped before the exception propagates.
    """
    environ = os.environ
    if "handler" in sys.modules:
        raise StartupError("the function (handler) was imported before its environment was set")
    mode = choose_mode(environ)
    run = LocalRun(mode=mode)
    try:
        if mode.name == "demo":
            field_name = environ.get("TOKEN_SECRET_FIELD", "").strip() or "token"
            run.demo = start_demo_backends(secret_field=field_name)
            run.demo.aws.apply(environ)
            environ["UPSTREAM_BASE_URL"] = run.demo.aggregator.base_url
            environ["TOKEN_SECRET_ID"] = SECRET_ID
            run.archive = start_archive_demo(run.demo.aws, run.demo.aggregator)
            environ.update(run.archive.environment(environ))
        elif mode.name == "token":
            token = environ.pop("UPSTREAM_TOKEN").strip()
            field_name = environ.get("TOKEN_SECRET_FIELD", "").strip() or "token"
            run.aws = start_embedded_aws()
            run.aws.put_token(SECRET_ID, token, field=field_name)
            run.aws.apply(environ)
            environ["TOKEN_SECRET_ID"] = SECRET_ID
        for name, value in FUNCTION_ENV.items():
            environ.setdefault(name, value)
        check_function_settings(environ)
        function = _import_function()
        run.api = LocalApi(function, host=host, port=port, access_log=access_log).start()
        if run.archive is not None:
            run.archive.start_poller(function, run.api.invoke_lock)
    except BaseException:
        run.stop()
        raise
    run.ready_seconds = time.monotonic() - run.started
    return run


def _add_src_to_path() -> None:
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


def check_function_settings(environ: Mapping[str, str]) -> None:
    """Refuse to start on a setting the function would refuse, naming it.

    The deployed function cannot refuse to start, so it answers every request ``500 misconfigured``
    and logs the variable; locally that would only look like a broken API, so stop here instead.
    """
    _add_src_to_path()
    from luma_download.errors import ConfigurationError  # noqa: PLC0415 (src/ is on the path only now)
    from luma_download.settings import load_settings  # noqa: PLC0415

    try:
        load_settings(environ)
    except ConfigurationError as exc:
        raise StartupError(f"bad configuration, the function would refuse it: {exc.detail}") from None
    if not boto3.session.Session().region_name:  # "" too: botocore would build a broken endpoint
        raise StartupError("no AWS region for Secrets Manager: set AWS_REGION (or use a profile with one)")


def _import_function() -> Invoke:
    _add_src_to_path()
    import handler  # noqa: PLC0415 (reads its settings from the environment at import)

    invoke: Invoke = handler.lambda_handler
    return invoke


def _port_from(environ: Mapping[str, str]) -> int:
    raw = environ.get("PORT", "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or int(raw) > 65535:
        raise StartupError(f"PORT must be a number from 0 to 65535, got {raw!r}")
    return int(raw)


class StopSignals:
    """Ctrl-C and SIGTERM, taken by the main thread with ``sigwait`` instead of a signal handler.

    A Python signal handler runs on the main thread between two bytecodes, possibly while that thread
    holds a lock (inside ``threading.Event.wait``, or inside the previous signal's handler). Under a
    burst of signals, ``Event.set()`` in a handler deadlocked for good, nested handlers recursed, and
    signals landing after ``main`` returned killed the process (the interpreter restores the default
    handlers at exit). Here both signals are blocked before any thread starts (threads inherit the
    mask), so no handler ever runs: ``wait`` takes one signal from the pending set, and the ones that
    arrive later stay pending and vanish at exit. Child processes would inherit the mask as well;
    ``make run`` starts none.
    """

    SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})

    def __init__(self) -> None:
        if threading.active_count() > 1:
            raise RuntimeError("StopSignals must be set up before any thread starts")
        signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)

    def wait(self) -> signal.Signals:
        """Block until a stop signal is pending (return at once if one came in meanwhile)."""
        return signal.Signals(signal.sigwait(self.SIGNALS))


def main() -> int:
    console = sys.stdout
    # Everything the function prints (Powertools JSON logs, EMF metrics) goes to stderr with the
    # access lines; stdout keeps only the ready lines. Swapped before ``handler`` is imported, since
    # the Powertools logger keeps the stream it finds at import.
    sys.stdout = sys.stderr

    stop_signals = StopSignals()
    run: LocalRun | None = None
    try:
        port = _port_from(os.environ)
        try:
            run = start_local(port=port)
        except OSError as exc:
            raise StartupError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); set PORT=...") from None
        for line in run.ready_lines():
            print(line, file=console, flush=True)
        received = stop_signals.wait()
        print(f"Stopping ({received.name})...", file=console, flush=True)
    except StartupError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        if run is not None:
            run.stop()
    print("Stopped.", file=console, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
