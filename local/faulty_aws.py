"""A faulty Secrets Manager on loopback: just enough of its JSON protocol to fail the ways AWS can.

The function reaches it the standard way, through ``AWS_ENDPOINT_URL_SECRETS_MANAGER``. Each
``GetSecretValue`` (``POST /`` with ``X-Amz-Target: secretsmanager.GetSecretValue``) takes the next
scripted fault, then ``otherwise``: by default forward to moto (``forward_to``, its endpoint), so
rotation and deletion are real. A fault is an answer from ``local.hostile`` (hang, drip, reset, ...),
one of the AWS answers below (a secret, throttling, an internal error, not found, a wrong shape), or
``forward``. Other operations are forwarded too, or refused when there is nowhere to forward them.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from local.hostile import Answer, Drip, HostileServer, SeenRequest, Send, http_bytes

GET_SECRET_VALUE = "secretsmanager.GetSecretValue"  # noqa: S105 (an operation name)
JSON_HEADERS = (("Content-Type", "application/x-amz-json-1.1"),)
FORWARDED_HEADERS = ("content-type", "x-amz-target", "x-amz-date", "authorization")
ARN_PREFIX = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"

Fault = Answer | Callable[[SeenRequest], Answer]


def aws_json(status: int, document: object) -> Answer:
    return (Send(http_bytes(status, json.dumps(document).encode(), JSON_HEADERS)),)


def secret_answer(name: str, *, string: object = None, binary: str | None = None) -> Answer:
    """GetSecretValue's answer as AWS shapes it; ``string`` may be any JSON value, to play a wrong shape."""
    document: dict[str, object] = {
        "ARN": f"{ARN_PREFIX}{name}-AbCdEf",
        "Name": name,
        "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1795615395.0,
    }
    if string is not None:
        document["SecretString"] = string
    if binary is not None:
        document["SecretBinary"] = binary  # base64, as the protocol carries blobs
    return aws_json(200, document)


def aws_error(status: int, error_type: str, message: str) -> Answer:
    return aws_json(status, {"__type": error_type, "message": message})


THROTTLED = aws_error(400, "ThrottlingException", "Rate exceeded")
INTERNAL_ERROR = aws_error(500, "InternalServiceError", "An internal error occurred")
NOT_FOUND = aws_error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")


def dripping(answer: Answer, interval: float) -> Answer:
    """The same answer, every byte ``interval`` seconds after the last."""
    return tuple(Drip(action.data, interval) if isinstance(action, Send) else action for action in answer)


class FaultyAws:
    """``start()``, then point ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` at ``endpoint``; ``stop()`` when done."""

    def __init__(self, *, forward_to: str | None = None, otherwise: Fault | None = None) -> None:
        self._forward_to = forward_to
        self._otherwise: Fault = otherwise or self.forward
        self._faults: deque[Fault] = deque()
        self._reads: list[str] = []
        self._lock = threading.Lock()
        self._server = HostileServer(self._answer)

    @property
    def endpoint(self) -> str:
        return self._server.base_url

    @property
    def reads(self) -> list[str]:
        """The SecretId of every GetSecretValue received, in order."""
        with self._lock:
            return list(self._reads)

    def start(self) -> FaultyAws:
        self._server.start()
        return self

    def script(self, *faults: Fault) -> None:
        """Answer the next GetSecretValue calls with ``faults``, in order, then as ``otherwise``."""
        with self._lock:
            self._faults.extend(faults)

    def go_down(self) -> None:
        """Secrets Manager unreachable: connections reset now, refused from now on."""
        self._server.go_down()

    def abort(self) -> None:
        self._server.abort()

    def stop(self) -> None:
        self._server.stop()

    def forward(self, request: SeenRequest) -> Answer:
        """Relay the request to moto and its answer back, byte for byte in the body."""
        if self._forward_to is None:
            return aws_error(400, "UnknownOperationException", "nothing to forward to")
        target = urlsplit(self._forward_to)
        connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=5)
        try:
            headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
            connection.request(request.method, request.path, body=request.body, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            content_type = answer.getheader("Content-Type", JSON_HEADERS[0][1])
        finally:
            connection.close()
        return (Send(http_bytes(answer.status, body, (("Content-Type", content_type),))),)

    def _answer(self, request: SeenRequest) -> Answer:
        if request.headers.get("x-amz-target") != GET_SECRET_VALUE:
            return self.forward(request)
        with self._lock:
            self._reads.append(str(json.loads(request.body or b"{}").get("SecretId")))
            fault = self._faults.popleft() if self._faults else self._otherwise
        return fault(request) if callable(fault) else fault
