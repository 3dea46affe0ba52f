"""Unit-level parts shared by the wings' tests."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.utilities.parameters.base import BaseProvider


class Vault(BaseProvider):
    """A Powertools provider answering from memory through its extension point (``_get``), as
    ``SecretsProvider`` answers from Secrets Manager: Powertools' own cache and error wrapping apply.

    ``fetches`` lists every fetch past that cache; ``fault`` is raised by the next ones; while ``gate``
    is set and not open, a fetch waits for it (at most 5 s).
    """

    def __init__(self, value: object = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.value = value
        self.fault: BaseException | None = None
        self.gate: threading.Event | None = None
        self.fetches: list[str] = []

    def _get(self, name: str, **sdk_options: Any) -> Any:
        self.fetches.append(name)
        if self.gate is not None:
            self.gate.wait(5)
        if self.fault is not None:
            raise self.fault
        # A new object per fetch, as the SDK's parsed answer is: the readers tell a fetch by identity.
        value = self.value
        return "".join(value) if isinstance(value, str) else value

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError
