"""The aggregator token: read from Secrets Manager through Powertools, cached, refreshed on demand.

The reading (cached, one shared read waited for until the request's deadline, the SDK's errors told
apart) is ``luma_download.secret_reading``'s; this module adds what is the token's own: its shape,
the re-read after a 401/403 (at most once per interval), and the tokens this container has sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque

from aws_lambda_powertools.utilities.parameters.base import BaseProvider

from luma_download.errors import ConfigurationError
from luma_download.model import Deadline
from luma_download.secret_reading import SecretReader

# A bearer token is visible ASCII without spaces; anything else would corrupt the header.
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{1,4096}", re.ASCII)
# After a 401/403 the secret is re-read at most this often; requests in between reuse that read.
FORCED_READ_INTERVAL_SECONDS = 30.0


class TokenSource:
    """Reads the token secret; ``refresh()`` re-reads it after a 401/403, at most once per interval."""

    def __init__(self, provider: BaseProvider, secret_id: str, field: str, max_age: int) -> None:
        self._secret = SecretReader(provider, secret_id, max_age, what="token")
        self._field = field
        # Container-wide facts, not per request: the tokens sent (upstream text echoing one is
        # masked, a link holding one is refused), the last forced read.
        self._used: deque[str] = deque(maxlen=4)
        self._forced_at = -FORCED_READ_INTERVAL_SECONDS
        self._lock = threading.Lock()
        # The secret value last parsed and its token: Powertools hands back the same cached object.
        self._parsed: tuple[object, str] | None = None

    def recent(self) -> tuple[str, ...]:
        """The tokens this container has read, newest last."""
        return tuple(self._used)

    def clear(self) -> None:
        """Forget the cached read and the last forced read (as a new container would start)."""
        self._secret.clear()
        self._forced_at = -FORCED_READ_INTERVAL_SECONDS

    def get(self, deadline: Deadline) -> str:
        """The token: the last read's while it is fresh, else read before ``deadline``."""
        return self._token(self._secret.get(deadline))

    def refresh(self, deadline: Deadline) -> str:
        """Re-read after the aggregator refused the token; a read in the last interval is reused, and
        one in flight (another worker's) is waited for rather than answered from the old cache."""
        with self._lock:  # deciding to force and starting that read are one step: a worker refused
            # just after sees the read in flight, never only the old token still cached beside it
            reading = self._secret.in_flight()
            if time.monotonic() - self._forced_at >= FORCED_READ_INTERVAL_SECONDS:
                self._secret.time_left(deadline)  # none left: start nothing
                self._forced_at = time.monotonic()
                reading = self._secret.begin(force_fetch=True)
        if reading is not None:
            return self._token(self._secret.wait(reading, deadline))
        return self.get(deadline)

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
