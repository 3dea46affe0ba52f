"""Embedded AWS for local runs and tests: moto's server mode on loopback, reached the standard way.

The function finds it through the AWS SDK's own variables (``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SQS``, ``AWS_ENDPOINT_URL_EVENTBRIDGE``), so the code under
test has no switches of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class EmbeddedAws:
    server: ThreadedMotoServer
    endpoint: str

    def environment(self) -> dict[str, str]:
        """The variables that point the AWS SDK (ours and the function's) at this server."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL_SQS": self.endpoint,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.endpoint,
        }

    def apply(self, environ: MutableMapping[str, str] = os.environ) -> None:
        environ.update(self.environment())
        # A developer's real profile must never leak into a local run.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            environ.pop(name, None)

    def client(self, service: Literal["secretsmanager", "s3", "sqs", "events"]) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto accepts any credentials)
        )

    def put_token(self, secret_id: str, token: str, field: str = "token") -> str:
        """Create or rotate the token secret (JSON object form); return its ARN."""
        secrets = self.client("secretsmanager")
        value = json.dumps({field: token})
        try:
            return str(secrets.create_secret(Name=secret_id, SecretString=value)["ARN"])
        except secrets.exceptions.ResourceExistsException:
            return str(secrets.put_secret_value(SecretId=secret_id, SecretString=value)["ARN"])

    def create_bucket(self, name: str) -> str:
        """A private bucket (idempotent); return its name."""
        s3 = self.client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)
        return name

    def create_queue(self, name: str, *, max_receives: int = 3, visibility_timeout: int = 30) -> str:
        """A standard queue with a dead-letter queue (``<name>-dlq``) after ``max_receives``; its URL."""
        sqs = self.client("sqs")
        dead_letter_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        policy = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receives)}
        attributes = {"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": str(visibility_timeout)}
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def stop(self) -> None:
        self.server.stop()


def start_embedded_aws(port: int = 0) -> EmbeddedAws:
    # moto's web server logs every request line, presigned signatures included: keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return EmbeddedAws(server=server, endpoint=f"http://{host}:{bound_port}")
