"""The function with what it talks to, on one machine: ``make run`` serves it over HTTP
(``local.run``), ``make invoke-local`` calls it once directly (``local.invoke``).

Three ways, picked from the environment:

- demo (no ``UPSTREAM_BASE_URL``): ``local.demo``'s backends (embedded AWS holding the token secret,
  the aggregator simulator with the demo tasks and their video) and the archive on
  (``local.archive_demo``: an embedded bucket and queue);
- real aggregator, real Secrets Manager (``UPSTREAM_BASE_URL`` and ``TOKEN_SECRET_ID``): nothing
  embedded, the usual AWS credentials and region apply;
- real aggregator, token from the environment (``UPSTREAM_BASE_URL`` and ``UPSTREAM_TOKEN``): only an
  embedded Secrets Manager, holding the token, which is never printed or logged.

The function reads ``os.environ`` when ``handler`` is imported, so ``start_stack`` sets it first.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import boto3

from local.archive_demo import DELIVERIES, ArchiveDemo, Invoke, start_archive_demo
from local.aws import EmbeddedAws, start_embedded_aws
from local.demo import DemoBackends, start_demo_backends

SRC: Final = Path(__file__).resolve().parent.parent / "src"
LAMBDA_TIMEOUT_SECONDS: Final = 15.0  # template.yaml: Timeout: 15
SECRET_ID: Final = "luma/aggregator-token"  # noqa: S105 (a secret's name)
FUNCTION_ENV: Final = {
    "POWERTOOLS_SERVICE_NAME": "luma-download",
    "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
}


class StartupError(Exception):
    """The environment asks for something that cannot run; the message says what to change."""


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
class LocalStack:
    """The imported function and whatever was started for it; ``stop()`` undoes it in reverse order."""

    mode: Mode
    function: Invoke | None = None
    demo: DemoBackends | None = None
    archive: ArchiveDemo | None = None  # demo mode only
    aws: EmbeddedAws | None = None  # token mode only

    def stop(self) -> None:
        if self.archive is not None:
            self.archive.stop()
        if self.demo is not None:
            self.demo.stop()
        if self.aws is not None:
            with contextlib.suppress(Exception):
                self.aws.stop()


def start_stack(environ: MutableMapping[str, str] = os.environ) -> LocalStack:
    """Start the parts the environment asks for, set the function's variables, import it.

    Must run before anything in the process imports ``handler``. On failure, whatever started is
    stopped before the exception propagates.
    """
    if "handler" in sys.modules:
        raise StartupError("the function (handler) was imported before its environment was set")
    stack = LocalStack(mode=choose_mode(environ))
    try:
        field_name = environ.get("TOKEN_SECRET_FIELD", "").strip() or "token"
        if stack.mode.name == "demo":
            stack.demo = start_demo_backends(secret_id=SECRET_ID, secret_field=field_name)
            stack.demo.aws.apply(environ)
            environ["UPSTREAM_BASE_URL"] = stack.demo.aggregator.base_url
            environ["TOKEN_SECRET_ID"] = SECRET_ID
            stack.archive = start_archive_demo(
                stack.demo.aws, stack.demo.aggregator, delivery=archive_delivery(environ)
            )
            environ.update(stack.archive.environment(environ))
        elif stack.mode.name == "token":
            token = environ.pop("UPSTREAM_TOKEN").strip()
            stack.aws = start_embedded_aws()
            stack.aws.put_token(SECRET_ID, token, field=field_name)
            stack.aws.apply(environ)
            environ["TOKEN_SECRET_ID"] = SECRET_ID
        for name, value in FUNCTION_ENV.items():
            environ.setdefault(name, value)
        check_function_settings(environ)
        stack.function = _import_function()
    except BaseException:
        stack.stop()
        raise
    return stack


def archive_delivery(environ: Mapping[str, str]) -> str:
    """``ARCHIVE_DELIVERY`` (the demo's, like the stack parameter ``ArchiveDelivery``): S3 or CloudFront."""
    raw = environ.get("ARCHIVE_DELIVERY", "").strip() or DELIVERIES[0]
    for delivery in DELIVERIES:
        if raw.lower() == delivery.lower():
            return delivery
    raise StartupError(f"ARCHIVE_DELIVERY must be S3 or CloudFront, got {raw!r}")


def add_src_to_path() -> None:
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


def check_function_settings(environ: Mapping[str, str]) -> None:
    """Refuse to start on a setting the function would refuse, naming it.

    The deployed function cannot refuse to start, so it answers every request ``500 misconfigured``
    and logs the variable; locally that would only look like a broken API, so stop here instead.
    """
    add_src_to_path()
    from luma_download.errors import ConfigurationError  # noqa: PLC0415 (src/ is on the path only now)
    from luma_download.settings import load_settings  # noqa: PLC0415

    try:
        load_settings(environ)
    except ConfigurationError as exc:
        raise StartupError(f"bad configuration, the function would refuse it: {exc.detail}") from None
    if not boto3.session.Session().region_name:  # "" too: botocore would build a broken endpoint
        raise StartupError("no AWS region for Secrets Manager: set AWS_REGION (or use a profile with one)")


def _import_function() -> Invoke:
    add_src_to_path()
    import handler  # noqa: PLC0415 (reads its settings from the environment at import)

    invoke: Invoke = handler.lambda_handler
    return invoke


def command_main(name: str, body: Callable[[IO[str]], int]) -> int:
    """A command's ``main`` around ``body(console)``: what the function prints (Powertools JSON logs,
    EMF metrics) goes to stderr, so the command's own output alone goes to ``console`` (stdout); a
    ``StartupError`` is exit code 2 with its message. The stream is swapped before ``handler`` is
    imported, since the Powertools logger keeps the one it finds at import."""
    console = sys.stdout
    sys.stdout = sys.stderr
    try:
        return body(console)
    except StartupError as exc:
        print(f"{name}: {exc}", file=sys.stderr, flush=True)
        return 2
