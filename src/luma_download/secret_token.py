"""The aggregator token: read from Secrets Manager through Powertools, cached, refreshed on demand.

A read that has to go to Secrets Manager runs on a thread of its own, and the request waits for it
only as long as its deadline allows: a hanging Secrets Manager costs the request its remaining
time, not the SDK's retries (the read itself ends by the SDK's own timeouts).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from luma_download.errors import ConfigurationError, UpstreamTimeoutError, UpstreamUnavailableError
from luma_download.model import Deadline

# A bearer token is visible ASCII without spaces; anything else would corrupt the header.
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{1,4096}", re.ASCII)
# Secrets Manager's passing faults: retryable (503), not a misconfiguration.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# After a 401/403 the secret is re-read at most this often; requests in between reuse that read.
FORCED_READ_INTERVAL_SECONDS = 30.0


class TokenSource:
    """Reads the token secret; ``refresh()`` re-reads it after a 401/403, at most once per interval."""

    def __init__(self, provider: SecretsProvider, secret_id: str, field: str, max_age: int) -> None:
        self._provider = provider
        self._secret_id = secret_id
        self._field = field
        self._max_age = max_age
        # Container-wide facts, not per request: the tokens sent (upstream text echoing one is
        # masked, a link holding one is refused), when the cached read goes stale, the last forced read.
        self._used: deque[str] = deque(maxlen=4)
        self._cached_until = 0.0
        self._forced_at = -FORCED_READ_INTERVAL_SECONDS
        self._lock = threading.Lock()
        # The secret value last parsed and its token: Powertools hands back the same cached object.
        self._parsed: tuple[object, str] | None = None

    def recent(self) -> tuple[str, ...]:
        """The tokens this container has read, newest last."""
        return tuple(self._used)

    def clear(self) -> None:
        """Forget the cached read and the last forced read (as a new container would start)."""
        self._provider.clear_cache()  # type: ignore[no-untyped-call]
        self._cached_until = 0.0
        self._forced_at = -FORCED_READ_INTERVAL_SECONDS

    def get(self, deadline: Deadline) -> str:
        """The token: from the cache while it is fresh, else read before ``deadline``."""
        if time.monotonic() < self._cached_until:
            return self._token(self._read(force_fetch=False))
        return self._token(_within(deadline, self._read, force_fetch=False))

    def refresh(self, deadline: Deadline) -> str:
        """Re-read after the aggregator refused the token; a read in the last interval is reused."""
        with self._lock:
            if time.monotonic() - self._forced_at < FORCED_READ_INTERVAL_SECONDS:
                return self.get(deadline)
            self._forced_at = time.monotonic()
        return self._token(_within(deadline, self._read, force_fetch=True))

    def _read(self, *, force_fetch: bool) -> object:
        try:
            raw = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except GetParameterError as exc:
            raise _secret_error(exc.__context__) from None
        self._cached_until = time.monotonic() + self._max_age
        return raw

    def _token(self, raw: object) -> str:
        parsed = self._parsed
        if parsed is not None and parsed[0] is raw:
            return parsed[1]
        token = token_from_secret(raw, self._field)
        self._parsed = (raw, token)
        if not self._used or self._used[-1] != token:
            if token in self._used:
                self._used.remove(token)
            self._used.append(token)
        return token


def _within(deadline: Deadline, read: Callable[..., object], **kwargs: object) -> object:
    """``read(**kwargs)`` on a thread of its own, waited for until ``deadline``.

    A thread per read (they are rare: once per cache period): a read stuck in a hanging Secrets
    Manager holds up no later one; it ends by the SDK's own timeouts, its answer unused.
    """
    remaining = deadline.remaining()
    if remaining <= 0:
        raise UpstreamTimeoutError("out of time before reading the token")
    future: Future[object] = Future()

    def run() -> None:
        try:
            future.set_result(read(**kwargs))
        except BaseException as exc:  # handed to the waiting request as is
            future.set_exception(exc)

    threading.Thread(target=run, name="secret-read", daemon=True).start()
    try:
        return future.result(timeout=remaining)
    except FutureTimeoutError:
        raise UpstreamTimeoutError("Secrets Manager did not answer in time") from None


def _secret_error(cause: BaseException | None) -> Exception:
    """Powertools wraps the SDK's error; its implicit context says what really happened."""
    # Refused, reset, closed early, timed out: the transport failed, not the configuration.
    if isinstance(cause, BotocoreConnectionError | HTTPClientError):
        return UpstreamUnavailableError(
            "Secrets Manager is unreachable", retry_after=5, detail=f"GetSecretValue: {type(cause).__name__}"
        )
    if isinstance(cause, ClientError):
        error_code = str(cause.response.get("Error", {}).get("Code", "ClientError"))
    else:
        error_code = type(cause).__name__
    if error_code in TRANSIENT_ERROR_CODES:
        return UpstreamUnavailableError(
            "Secrets Manager is unavailable; try again", retry_after=5, detail=f"GetSecretValue: {error_code}"
        )
    return ConfigurationError(f"token secret could not be read ({error_code})")


def token_from_secret(raw: object, field: str) -> str:
    """The secret holds the token itself, or a JSON object with the token under ``field``."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError("token secret is binary and not UTF-8") from None
    if not isinstance(raw, str):
        raise ConfigurationError("token secret is empty")
    text = raw.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigurationError("token secret looks like JSON but does not parse") from None
        value = document.get(field) if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ConfigurationError(f"token secret has no string field {field!r}")
        text = value.strip()
    if _TOKEN_PATTERN.fullmatch(text) is None:
        raise ConfigurationError("token secret value is empty or has spaces or control characters")
    return text
