"""The aggregator token: read from Secrets Manager through Powertools, cached, refreshed on demand."""

from __future__ import annotations

import json
import re
from collections import deque

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import ReadTimeoutError as BotocoreReadTimeoutError

from luma_download.errors import ConfigurationError, UpstreamUnavailableError

# A bearer token is visible ASCII without spaces; anything else would corrupt the header.
_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{1,4096}", re.ASCII)


class TokenSource:
    """Reads the token secret; ``get(force_fetch=True)`` skips the cache after a 401/403."""

    def __init__(self, provider: SecretsProvider, secret_id: str, field: str, max_age: int) -> None:
        self._provider = provider
        self._secret_id = secret_id
        self._field = field
        self._max_age = max_age
        # Tokens this container has sent (not per request): upstream text echoing one is masked.
        self._used: deque[str] = deque(maxlen=4)

    def recent(self) -> tuple[str, ...]:
        """The tokens this container has read, newest last."""
        return tuple(self._used)

    def get(self, *, force_fetch: bool = False) -> str:
        try:
            raw = self._provider.get(self._secret_id, max_age=self._max_age, force_fetch=force_fetch)
        except GetParameterError as exc:
            # Powertools wraps the SDK error; its implicit context says what really happened.
            cause = exc.__context__
            if isinstance(cause, BotocoreConnectionError | BotocoreReadTimeoutError):
                raise UpstreamUnavailableError("Secrets Manager is unreachable", retry_after=5) from None
            error_code = getattr(cause, "response", {}).get("Error", {}).get("Code", type(cause).__name__)
            raise ConfigurationError(f"token secret could not be read ({error_code})") from None
        token = token_from_secret(raw, self._field)
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
