"""The aggregator token: read from Secrets Manager through Powertools, cached, refreshed on demand.

A read that has to go to Secrets Manager runs on a thread of its own, and the request waits for it
only as long as its deadline allows: a hanging Secrets Manager costs the request its remaining
time, not the SDK's retries (the read itself ends by the SDK's own timeouts). Callers that need a
read while one is in flight (a batch's workers) wait for that one: one paid ``GetSecretValue``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from luma_download.errors import (
    ConfigurationError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    aws_error_code,
)
from luma_download.model import Deadline
from luma_download.off_thread import start

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
        # The read now going to Secrets Manager, for concurrent callers to share.
        self._reading: Future[object] | None = None

    def recent(self) -> tuple[str, ...]:
        """The tokens this container has read, newest last."""
        return tuple(self._used)

    def clear(self) -> None:
        """Forget the cached read and the last forced read (as a new container would start)."""
        self._provider.clear_cache()  # type: ignore[no-untyped-call]
        self._cached_until = 0.0
        self._forced_at = -FORCED_READ_INTERVAL_SECONDS

    def get(self, deadline: Deadline) -> str:
        """The token: the last read's while it is fresh, else read before ``deadline``.

        A fresh token is answered without asking the provider: its cache may have aged out first,
        and then it would fetch right here, bounded by the SDK's timeouts instead of ``deadline``.
        """
        parsed = self._parsed
        if parsed is not None and time.monotonic() < self._cached_until:
            return parsed[1]
        return self._token(self._shared_read(deadline, force_fetch=False))

    def refresh(self, deadline: Deadline) -> str:
        """Re-read after the aggregator refused the token; a read in the last interval is reused, and
        one in flight (another worker's) is waited for rather than answered from the old cache."""
        with self._lock:
            force = time.monotonic() - self._forced_at >= FORCED_READ_INTERVAL_SECONDS
            if force:
                self._forced_at = time.monotonic()
            in_flight = self._reading is not None
        if force or in_flight:
            return self._token(self._shared_read(deadline, force_fetch=force))
        return self.get(deadline)

    def _shared_read(self, deadline: Deadline, *, force_fetch: bool) -> object:
        """The secret, read on a thread of its own (or the read in flight, joined), waited for until
        ``deadline``. A read given up on is not joined later: a stuck read holds up no later invocation;
        it ends by the SDK's own timeouts, its answer unused."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise UpstreamTimeoutError("out of time before reading the token")
        with self._lock:
            future = self._reading
            if future is None:
                # Forgotten before it settles: a caller from then on finds the fresh cache, or reads anew.
                future = self._reading = start(
                    lambda: self._read(force_fetch=force_fetch),
                    name="secret-read",
                    before_settling=self._forget,
                )
        try:
            return future.result(timeout=remaining)
        except FutureTimeoutError:
            self._forget(future)
            raise UpstreamTimeoutError("Secrets Manager did not answer in time") from None

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            if self._reading is future:
                self._reading = None

    def _read(self, *, force_fetch: bool) -> object:
        # Counted from before the call: ends no later than the provider's own cache of what it fetches.
        fresh_until = time.monotonic() + self._max_age
        try:
            raw = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except GetParameterError as exc:
            raise _secret_error(exc.__context__) from None
        if self._parsed is None or self._parsed[0] is not raw:
            self._cached_until = fresh_until  # a value fetched now (a cached one keeps its own age)
        return raw

    def _token(self, raw: object) -> str:
        parsed = self._parsed
        if parsed is not None and parsed[0] is raw:
            return parsed[1]
        token = token_from_secret(raw, self._field)
        with self._lock:  # a batch's workers may get here together: the deque is changed by one at a time
            self._parsed = (raw, token)
            if not self._used or self._used[-1] != token:
                if token in self._used:
                    self._used.remove(token)
                self._used.append(token)
        return token


def _secret_error(cause: BaseException | None) -> Exception:
    """Powertools wraps the SDK's error; its implicit context says what really happened."""
    # Refused, reset, closed early, timed out: the transport failed, not the configuration.
    if isinstance(cause, BotocoreConnectionError | HTTPClientError):
        return UpstreamUnavailableError(
            "Secrets Manager is unreachable", retry_after=5, detail=f"GetSecretValue: {type(cause).__name__}"
        )
    if isinstance(cause, ClientError):
        error_code = aws_error_code(cause, "ClientError")
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
