"""Shared fixtures: events from events/, a Lambda context, the function's JSON log lines, the leak watch."""

from __future__ import annotations

import copy
import functools
import importlib
import io
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest

from local.lambda_context import LocalLambdaContext

if TYPE_CHECKING:
    from local.edge import KeyPair

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
EVENT_TASK_ID = "1fa17995-f527-46a5-9796-294b453b8a7f"
SERVICE = "luma-download"


def schema_errors(name: str, instance: Any) -> list[str]:
    """Where ``instance`` breaks ``docs/schemas/<name>`` (draft 2020-12, checked first); [] if nowhere."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 (only the schema tests need it)

    schema = json.loads((SCHEMAS_DIR / name).read_text())
    Draft202012Validator.check_schema(schema)
    found = Draft202012Validator(schema).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def load_event(name: str, task_id: str | None = None) -> Any:
    """An event from events/, optionally retargeted at another task id (path and path parameters)."""
    event = json.loads((EVENTS_DIR / name).read_text())
    if task_id is None:
        return event
    return _replace_in_strings(event, EVENT_TASK_ID, task_id)


def _replace_in_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: _replace_in_strings(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_in_strings(item, old, new) for item in value]
    return value


@pytest.fixture
def event() -> Callable[..., Any]:
    return lambda name, task_id=None: copy.deepcopy(load_event(name, task_id))


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(timeout_seconds=15)


class LogLines:
    """The JSON lines the function's Powertools logger wrote during one test."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def last(self, message: str) -> dict[str, Any]:
        matches = [r for r in self.records() if r.get("message") == message]
        assert matches, f"no log line {message!r} in:\n{self.text}"
        return matches[-1]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Tee the service logger into a buffer, formatted by the logger's own JSON formatter."""
    import handler  # noqa: PLC0415 (imported once the environment is set by the caller's fixtures)

    stream = io.StringIO()
    tee = logging.StreamHandler(stream)
    tee.setFormatter(handler.logger.registered_formatter)
    std_logger = logging.getLogger(SERVICE)
    std_logger.addHandler(tee)
    try:
        yield LogLines(stream)
    finally:
        std_logger.removeHandler(tee)


# -- the leak watch --------------------------------------------------------------------------------

# The aggregator token in every suite that calls the function through its own wiring (tests/fuzz,
# tests/contract, tests/load): shaped like a reseller's key, so it must never come out anywhere.
CANARY_TOKEN = "sk-canary-5f0c9e1a7b3d4c2e8a6f0d1b"
# A base64 line of a PEM this long cannot turn up by chance; a key's last line may be a few characters.
_PEM_LINE_WATCHED = 16


@functools.cache
def canary_key_pair(kind: Literal["ECDSA", "RSA"]) -> KeyPair:
    """The CloudFront private key canary of ``kind``, one per session: every leak watch looks for it, so
    a suite that puts it where the function reads its CloudFront key has it watched like the token."""
    from local.edge import demo_key_pair  # noqa: PLC0415 (cryptography: only once a watch or a test needs it)

    return demo_key_pair(kind, f"KCANARY{kind}")


def pem_body_lines(pem: str) -> tuple[str, ...]:
    """The base64 lines of a PEM: what of a key would show in a leak. Not its ``-----BEGIN ...`` lines,
    which a configuration error may name (as the form it expected)."""
    lines = (line.strip() for line in pem.splitlines())
    return tuple(line for line in lines if len(line) >= _PEM_LINE_WATCHED and not line.startswith("-----"))


@dataclass
class LeakWatch:
    """Everything the function let out: log lines, responses (status, headers, body), exception messages.

    ``secrets`` may appear in none of it. ``signatures`` (of presigned URLs) may appear only in the link
    a successful answer delivers: a 302's ``Location`` or the 200 document's ``url``.
    """

    secrets: tuple[str, ...]
    signatures: tuple[str, ...]
    records: int = 0
    findings: list[str] = field(default_factory=list)

    def private_key(self, pem: str) -> None:
        """Watch for this PEM's body lines too, as for the canaries (a key a test makes for a case)."""
        self.secrets += pem_body_lines(pem)

    def text(self, where: str, text: str) -> None:
        """A log line, an error message, a child's output: nothing secret, no signature."""
        self._check(where, text, text)

    def exception(self, where: str, exc: BaseException) -> None:
        self.text(f"{where} ({type(exc).__name__})", f"{type(exc).__name__}: {exc} {exc.args!r}")

    def document(self, where: str, document: Mapping[str, Any]) -> None:
        """A direct invoke's result: its ``url`` is the delivered link (a batch's: each entry's)."""
        outside = {k: v for k, v in document.items() if k not in ("url", "results")}
        results = document.get("results")
        if isinstance(results, list):
            outside["results"] = [
                {k: v for k, v in entry.items() if k != "url"} if isinstance(entry, dict) else entry
                for entry in results
            ]
        self._check(where, json.dumps(document), json.dumps(outside))

    def response(
        self,
        where: str,
        status: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: str | bytes,
    ) -> None:
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        raw = "\n".join([str(status), *(f"{name}: {value}" for name, value in pairs), text])
        # The delivered link is the one place a signature belongs: a redirect's Location, a 200's url.
        redirect = 300 <= status < 400
        shown = [f"{n}: {v}" for n, v in pairs if not (redirect and n.lower() == "location")]
        rest = "\n".join([str(status), *shown, _without_url(text) if status == 200 else text])
        self._check(f"{where} response", raw, rest)

    def _check(self, where: str, everything: str, outside_the_link: str) -> None:
        self.records += 1
        for needle in self.secrets:
            if needle in everything:
                self.findings.append(f"{needle[:16]}... in {where}: {_around(everything, needle)}")
        for needle in self.signatures:
            if needle in outside_the_link:
                self.findings.append(f"a signature in {where}: {_around(outside_the_link, needle)}")

    def assert_clean(self) -> None:
        assert self.records > 0, "the leak watch saw nothing: the suite fed it no output"
        assert not self.findings, "leaked:\n" + "\n".join(self.findings[:20])


def _around(text: str, needle: str, width: int = 60) -> str:
    at = text.find(needle)
    return repr(text[max(0, at - width) : at + len(needle) + width])


def _without_url(body: str) -> str:
    """A JSON document's text without its ``url`` member; any other body as it is."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if not isinstance(document, dict):
        return body
    return json.dumps({key: value for key, value in document.items() if key != "url"})


class _LogTee(logging.Handler):
    """Every record of the function's logger, formatted as its own (Powertools JSON) handler does."""

    def __init__(self, watch: LeakWatch) -> None:
        super().__init__()
        self._watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        own = next((h for h in logging.getLogger(SERVICE).handlers if h is not self), None)
        self._watch.text(f"log line {str(record.msg)[:60]!r}", (own or self).format(record))


@contextmanager
def watching_function_output(watch: LeakWatch, capsys: pytest.CaptureFixture[str]) -> Iterator[LeakWatch]:
    """Feed ``watch`` every record of the function's logger and what this process prints (EMF)."""
    tee = _LogTee(watch)
    std_logger = logging.getLogger(SERVICE)
    std_logger.addHandler(tee)
    try:
        yield watch
    finally:
        std_logger.removeHandler(tee)
        captured = capsys.readouterr()
        for name, text in (("stdout", captured.out), ("stderr", captured.err)):
            if text:
                watch.text(name, text)


def new_leak_watch() -> LeakWatch:
    """Watching for the canaries (the token, the CloudFront private keys' PEM body lines), and for the
    signature and credential of the suites' presigned URLs."""
    from tests.integration.conftest import presigned_r2_url  # noqa: PLC0415 (the URLs the simulators hand out)

    query = parse_qs(urlsplit(presigned_r2_url("any")).query)
    signature, credential = query["X-Amz-Signature"][0], query["X-Amz-Credential"][0].split("/")[0]
    keys = [line for kind in ("ECDSA", "RSA") for line in pem_body_lines(canary_key_pair(kind).private_pem)]
    return LeakWatch(secrets=(CANARY_TOKEN, *keys), signatures=(signature, credential))


@pytest.fixture
def leak_watch(capsys: pytest.CaptureFixture[str]) -> Iterator[LeakWatch]:
    """A ``LeakWatch`` fed the function's log records and this process's output; tests feed it
    responses, exceptions and child processes' output. Fails the test at teardown on any finding."""
    with watching_function_output(new_leak_watch(), capsys) as watch:
        yield watch
    watch.assert_clean()


# -- the function, for suites that wire their own service ------------------------------------------


@pytest.fixture(scope="module")
def handler_module() -> Iterator[ModuleType]:
    """``handler``, for suites that wire their own service with ``build_service``.

    ``handler`` builds its module-level service from ``os.environ`` on first import, and the
    integration suite imports it only once its own environment is set. A module that imports it
    first therefore takes it out of ``sys.modules`` when done, so the next import starts afresh, as
    a new container would.
    """
    imported_here = "handler" not in sys.modules
    module = importlib.import_module("handler")
    yield module
    if imported_here:
        sys.modules.pop("handler", None)
