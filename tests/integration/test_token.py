"""The token: read from Secrets Manager (moto server mode), cached, re-read once on 401/403."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

from local.aggregator import Aggregator, Reply
from local.aws import EmbeddedAws
from local.lambda_context import LocalLambdaContext
from tests.conftest import LogLines
from tests.integration.conftest import INITIAL_TOKEN, ROTATED_TOKEN, SECRET_ID, closed_port, completed

TASK = "1fa17995-f527-46a5-9796-294b453b8a7f"
DOWNLOAD_PATH = f"/luma/generations/{TASK}/download_video_url"


def test_the_token_goes_upstream_as_a_bearer(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    completed(aggregator, TASK)

    function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert [r.authorization for r in aggregator.requests] == [f"Bearer {INITIAL_TOKEN}"]
    assert aggregator.requests[0].user_agent == "luma-download/0.1 (+aws-lambda)"


def test_the_secret_is_read_once_for_many_requests(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], secret_reads: list[str]
) -> None:
    completed(aggregator, TASK)

    for _ in range(5):
        assert function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())["statusCode"] == 302

    assert secret_reads == [SECRET_ID]


def test_a_rotated_token_is_picked_up_without_a_redeploy(
    function: ModuleType,
    aggregator: Aggregator,
    embedded_aws: EmbeddedAws,
    event: Callable[..., Any],
    secret_reads: list[str],
) -> None:
    # Given a warm function that has cached the first token
    completed(aggregator, TASK)
    assert function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())["statusCode"] == 302

    # When the operator rotates the secret and the aggregator stops accepting the old token
    embedded_aws.put_token(SECRET_ID, ROTATED_TOKEN)
    aggregator.valid_tokens = {ROTATED_TOKEN}
    url = completed(aggregator, "another-task")
    response = function.lambda_handler(
        event("http_api_get.json", task_id="another-task"), LocalLambdaContext()
    )

    # Then the 401 makes it re-read the secret once and retry once with the new token
    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == url
    assert [r.authorization for r in aggregator.requests] == [
        f"Bearer {INITIAL_TOKEN}",
        f"Bearer {INITIAL_TOKEN}",
        f"Bearer {ROTATED_TOKEN}",
    ]
    assert secret_reads == [SECRET_ID, SECRET_ID]


def test_a_token_rejected_after_refresh_is_bad_upstream(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], secret_reads: list[str]
) -> None:
    # Given an aggregator that refuses the token the secret holds, even fresh from the secret
    completed(aggregator, TASK)
    aggregator.script(DOWNLOAD_PATH, Reply(403, {"error": {"message": "quota exhausted"}}))
    aggregator.valid_tokens = set()

    response = function.lambda_handler(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 502
    assert json.loads(response["body"])["error"]["code"] == "bad_upstream"
    # the secret was re-read once; the token did not change, so there was no pointless retry
    assert secret_reads == [SECRET_ID, SECRET_ID]
    assert len(aggregator.requests) == 1


def test_a_missing_secret_is_a_configuration_error(
    variant: Callable[..., Any], aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    handle = variant(TOKEN_SECRET_ID="luma/no-such-secret")

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 500
    error = json.loads(response["body"])["error"]
    assert error["code"] == "misconfigured"
    # The operator's log says which secret error; the caller is told nothing internal.
    assert "ResourceNotFoundException" in log_lines.last("request done")["detail"]
    assert "ResourceNotFoundException" not in response["body"]
    assert "secret" not in error["message"]
    assert aggregator.requests == []


def test_a_secret_without_the_field_is_a_configuration_error(
    function: ModuleType,
    variant: Callable[..., Any],
    embedded_aws: EmbeddedAws,
    aggregator: Aggregator,
    event: Callable[..., Any],
) -> None:
    embedded_aws.put_token("luma/other-shape", "abc", field="api_key")
    handle = variant(TOKEN_SECRET_ID="luma/other-shape")

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"]["code"] == "misconfigured"


def test_the_field_name_is_configurable(
    function: ModuleType,
    variant: Callable[..., Any],
    embedded_aws: EmbeddedAws,
    aggregator: Aggregator,
    event: Callable[..., Any],
) -> None:
    embedded_aws.put_token("luma/api-key-shape", INITIAL_TOKEN, field="api_key")
    completed(aggregator, TASK)
    handle = variant(TOKEN_SECRET_ID="luma/api-key-shape", TOKEN_SECRET_FIELD="api_key")

    assert handle(event("http_api_get.json"), LocalLambdaContext())["statusCode"] == 302


def test_bad_settings_answer_500_misconfigured_not_a_crash(
    variant: Callable[..., Any], aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    handle = variant(UPSTREAM_BASE_URL="http://api.example.com")

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 500
    error = json.loads(response["body"])["error"]
    assert error["code"] == "misconfigured"
    assert error["request_id"] == "Cf3nPjRNoAMEV4g="
    # The setting and its value are in the operator's log, not in the public body.
    assert "UPSTREAM_BASE_URL" in log_lines.last("request done")["detail"]
    assert "UPSTREAM_BASE_URL" not in response["body"]
    assert "api.example.com" not in response["body"]
    assert aggregator.requests == []


def test_an_unreachable_secrets_manager_is_503_not_misconfigured(
    function: ModuleType, variant: Callable[..., Any], aggregator: Aggregator, event: Callable[..., Any]
) -> None:
    # Given a Secrets Manager endpoint where nothing listens
    client = boto3.client(
        "secretsmanager",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        config=function.SECRETS_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1})),
    )
    handle = variant(secrets=SecretsProvider(boto3_client=client))

    response = handle(event("http_api_get.json"), LocalLambdaContext())

    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "upstream_unavailable"
    assert aggregator.requests == []


def test_refusals_in_a_burst_reread_the_secret_once(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], secret_reads: list[str]
) -> None:
    # Given an aggregator that refuses the token, for every task, many times in a row
    aggregator.valid_tokens = set()

    statuses = [
        function.lambda_handler(event("http_api_get.json", task_id=f"t{i}"), LocalLambdaContext())[
            "statusCode"
        ]
        for i in range(50)
    ]

    # Then every request is a 502, but the paid GetSecretValue runs twice (the first read and one
    # forced re-read), not once per refusal
    assert set(statuses) == {502}
    assert secret_reads == [SECRET_ID, SECRET_ID]
    assert len(aggregator.requests) == 50


def test_a_link_holding_the_token_is_refused(
    function: ModuleType, aggregator: Aggregator, event: Callable[..., Any], log_lines: LogLines
) -> None:
    # Given an aggregator that puts our token into the link it hands out
    leaky = f"https://{INITIAL_TOKEN}.r2.cloudflarestorage.com/v.mp4?X-Amz-Signature=abc"
    completed(aggregator, TASK, url=leaky)

    for name in ("http_api_get.json", "http_api_get_json.json"):
        response = function.lambda_handler(event(name), LocalLambdaContext())
        assert response["statusCode"] == 502
        assert INITIAL_TOKEN not in json.dumps(response)
    with pytest.raises(function.LumaDownloadError) as raised:
        function.lambda_handler(event("direct_invoke.json"), LocalLambdaContext())

    assert type(raised.value).__name__ == "UpstreamError"
    assert INITIAL_TOKEN not in str(raised.value)
    assert log_lines.last("request done")["outcome"] == "bad_upstream"
    assert INITIAL_TOKEN not in log_lines.text
