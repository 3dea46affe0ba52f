"""The real ``make run`` entry point (``python -m local.run``) as a subprocess, shared by the e2e tests.

``LocalRunProcess`` starts it on a free port (``PORT=0``) from the repository root, pumps its stdout
and stderr into memory (the function's log lines would otherwise fill the pipe), waits (bounded)
for the ready block and parses the URLs it prints. The fixtures always stop it.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pytest

from local.run import LISTENING_PREFIX, STOP_LINE_PREFIX

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 15.0
# Variables that would switch local.run out of demo mode or point it at a real AWS account.
_STRIPPED = re.compile(r"^(UPSTREAM_|TOKEN_SECRET_|ARCHIVE_|AWS_|POWERTOOLS_|PORT$)")
_TASK_LINE = re.compile(r"^\s+(?P<label>completed|processing|failed)\s+(?P<url>http://\S+)")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _STRIPPED.match(k)}
    env.update({"PORT": "0", "PYTHONUNBUFFERED": "1", **extra})
    return env


class LocalRunProcess:
    """``python -m local.run`` (or ``command``, e.g. ``make run``) with captured output; ``wait_ready()``
    parses the printed URLs."""

    def __init__(
        self, env: Mapping[str, str], command: Sequence[str] = (sys.executable, "-m", "local.run")
    ) -> None:
        self.proc = subprocess.Popen(
            list(command),
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._changed = threading.Condition()
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()
        self.base_url = ""
        self.task_urls: dict[str, str] = {}

    def _pump(self, stream: IO[str] | None, sink: list[str]) -> None:
        assert stream is not None
        for line in stream:
            with self._changed:
                sink.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stdout(self) -> str:
        with self._changed:
            return "\n".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.stderr_lines)

    @property
    def port(self) -> int:
        return int(urlsplit(self.base_url).port or 0)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> LocalRunProcess:
        """Block until the ``Stop:`` line is printed; fail with the output if it never comes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(line.startswith(STOP_LINE_PREFIX) for line in self.stdout_lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._pumps[0].is_alive()):
                    raise AssertionError(
                        f"local.run not ready (exit code {self.proc.poll()}):\n"
                        f"--- stdout\n{chr(10).join(self.stdout_lines)}\n"
                        f"--- stderr\n{chr(10).join(self.stderr_lines[-40:])}"
                    )
                self._changed.wait(min(left, 0.5))
            lines = list(self.stdout_lines)
        listening = next(line for line in lines if line.startswith(LISTENING_PREFIX))
        self.base_url = listening.removeprefix(LISTENING_PREFIX).split()[0]
        for line in lines:
            match = _TASK_LINE.match(line)
            if match:
                self.task_urls[match["label"]] = match["url"]
        return self

    def signal(self, signum: int = signal.SIGINT, timeout: float = EXIT_TIMEOUT_S) -> int:
        """Send ``signum``; return the exit code (raises ``subprocess.TimeoutExpired`` on a hang)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout=timeout)
        for pump in self._pumps:
            pump.join(timeout=5)
        return code

    def kill(self) -> None:
        """Last resort for teardown: never leave the process (and its ports) behind."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=EXIT_TIMEOUT_S)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def local_run() -> Iterator[LocalRunProcess]:
    """The demo (no UPSTREAM_* variables) on a free port, ready; stopped after the module's tests."""
    run = LocalRunProcess(clean_env())
    try:
        yield run.wait_ready()
    finally:
        run.kill()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def request(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Answer:
    """One plain HTTP request, no redirect following, bounded by a timeout."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=20)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, headers=dict(headers or {}))
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()
