"""template.yaml: lint-clean, and the SAM transform yields the intended CloudFormation stack.

The transform runs offline (samtranslator with a managed-policy stub, no AWS calls). Conditions
are then evaluated for a given set of parameter values, the way CloudFormation would, so each
test asserts what a deployed stack would contain.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.helpers import REGIONS
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from luma_download import errors
from luma_download.archive import events
from luma_download.settings import NUMBER_RULES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ROUTE = "/luma/generations/{task_id}/download_video_url"
FUNCTION = "LumaVideoFunction"
STATE_MACHINE = "GetVideoStateMachine"
WORKER = "ArchiveWorkerFunction"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma/aggregator-token-AbCdEf"
REQUIRED = {"UpstreamBaseUrl": "https://aggregator.example.com"}
CUSTOM = {
    **REQUIRED,
    "TokenSecretArn": SECRET_ARN,
    "ApiAuth": "AWS_IAM",
    "ReservedConcurrency": "5",
    "LogRetentionDays": "14",
    "ThrottleBurstLimit": "10",
    "ThrottleRateLimit": "3",
    "CorsAllowOrigins": "https://app.example.com,https://admin.example.com",
    "TokenSecretField": "api_key",
    "LogLevel": "DEBUG",
    "UpstreamConnectTimeout": "1.5",
    "UpstreamReadTimeout": "8",
    "PowertoolsServiceName": "luma-dl-test",
    "PowertoolsMetricsNamespace": "Acme/Luma",
    "TracingMode": "PassThrough",
    "AlarmEmail": "ops@example.com",
    "BadUpstreamAlarmThreshold": "20",
    "DurationP99AlarmMilliseconds": "9000",
    "ArchiveEnabled": "false",
}
# The archive in a bucket the deployer already has.
EXISTING_BUCKET = {
    **REQUIRED,
    "ArchiveBucketName": "acme-luma-videos",
    "ArchivePrefix": "copies/",
    "ArchiveWorkerMemorySize": "1024",
    "ArchiveWorkerConcurrency": "3",
}
# CloudFront delivery (issue 18): a distribution in front of the created bucket, or of an existing one.
CDN_KEY_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma/cdn-signing-key-AbCdEf"
CDN_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6bVKdqVBLJ/xSCnC0XtjPnrZ05TJ\n"
    "Z/bI8mC1xeLLrhHaBWCJpLsJZRok6FhJn5NsygXZ5mu5wBrUwFDeccyEFw==\n"
    "-----END PUBLIC KEY-----\n"
)
CDN_KEYS = {"ArchiveCdnPublicKey": CDN_PUBLIC_KEY, "ArchiveCdnKeySecretArn": CDN_KEY_SECRET_ARN}
CLOUDFRONT = {
    **REQUIRED,
    **CDN_KEYS,
    "ArchiveDelivery": "CloudFront",
    "ArchiveCdnPriceClass": "PriceClass_200",
    "EventBusName": "luma-events",
    "ArchiveMaxReceives": "5",
}
CLOUDFRONT_EXISTING_BUCKET = {**EXISTING_BUCKET, **CDN_KEYS, "ArchiveDelivery": "CloudFront"}
JWT_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
JWT = {**REQUIRED, "ApiAuth": "JWT", "JwtIssuer": JWT_ISSUER, "JwtAudience": "client-one,client-two"}
PSEUDO = {
    "AWS::StackName": "luma-test",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()


class OfflinePolicyLoader(ManagedPolicyLoader):
    """Managed-policy name lookup that never calls IAM (the template names no managed policy)."""

    def __init__(self) -> None:
        super().__init__(iam_client=None)

    def load(self) -> dict[str, str]:
        return {}


def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def sam_transform(params: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template that the AWS::Serverless transform makes of template.yaml."""
    template = sam_template()
    # `sam deploy` uploads the build (and the state machine's definition) and rewrites the local
    # paths to the S3 objects; mimic that.
    for name in (FUNCTION, WORKER):
        template["Resources"][name]["Properties"]["CodeUri"] = "s3://example-artifacts/luma-download.zip"
    template["Resources"][STATE_MACHINE]["Properties"]["DefinitionUri"] = (
        "s3://example-artifacts/get_video.asl.json"
    )
    return transform(template, dict(params), OfflinePolicyLoader())


class Stack:
    """A transformed template as CloudFormation would resolve it for one set of parameter values:
    conditions evaluated, Fn::If / parameter Refs / AWS::NoValue resolved, conditional resources
    dropped. Refs to resources and Fn::GetAtt stay as they are."""

    def __init__(self, cfn: dict[str, Any], params: dict[str, str]) -> None:
        self.cfn = cfn
        self.params = params
        self.resources = {
            name: self.resolve(res)
            for name, res in cfn["Resources"].items()
            if "Condition" not in res or self.condition(res["Condition"])
        }
        self.outputs = {
            name: self.resolve(out)
            for name, out in cfn.get("Outputs", {}).items()
            if "Condition" not in out or self.condition(out["Condition"])
        }

    def parameter(self, name: str) -> Any:
        spec = self.cfn["Parameters"][name]
        value = str(self.params.get(name, spec.get("Default")))
        return value.split(",") if spec["Type"] == "CommaDelimitedList" else value

    def condition(self, name: str) -> bool:
        return self._truth(self.cfn["Conditions"][name])

    def _truth(self, expr: dict[str, Any]) -> bool:
        ((fn, args),) = expr.items()
        if fn == "Fn::Equals":
            left, right = (self.resolve(arg) for arg in args)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not self._truth(args[0])
        if fn == "Fn::And":
            return all(self._truth(arg) for arg in args)
        if fn == "Fn::Or":
            return any(self._truth(arg) for arg in args)
        if fn == "Condition":
            return self.condition(args)
        raise AssertionError(f"condition function not handled: {fn}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if name == "AWS::NoValue":
                return _NO_VALUE
            if name in self.cfn.get("Parameters", {}):
                return self.parameter(name)
            return PSEUDO.get(name, value)
        if set(value) == {"Fn::If"}:
            cond, if_true, if_false = value["Fn::If"]
            return self.resolve(if_true if self.condition(cond) else if_false)
        if set(value) == {"Fn::Split"}:
            separator, text = (self.resolve(arg) for arg in value["Fn::Split"])
            return text.split(separator) if isinstance(text, str) else {"Fn::Split": [separator, text]}
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return {"Fn::Sub": re.sub(r"\$\{([^}!]+)\}", self._sub_var, value["Fn::Sub"])}
        if set(value) == {"Fn::Sub"}:  # [text, variables]: the variables' own names stay in the text
            text, variables = value["Fn::Sub"]
            return {"Fn::Sub": [re.sub(r"\$\{([^}!]+)\}", self._sub_var, text), self.resolve(variables)]}
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    def _sub_var(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name in self.cfn.get("Parameters", {}):
            return str(self.parameter(name))
        return PSEUDO.get(name, match.group(0))

    # Shortcuts for the resources under test.
    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id]["Properties"]  # type: ignore[no-any-return]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == resource_type}

    def api_operations(self) -> dict[str, Any]:
        return self.props("LumaHttpApi")["Body"]["paths"][ROUTE]  # type: ignore[no-any-return]

    def rule_failures(self) -> list[str]:
        """The template's Rules as CloudFormation checks them before a deploy: what it would refuse."""
        failures = []
        for rule in self.cfn.get("Rules", {}).values():
            if "RuleCondition" in rule and not self._truth(rule["RuleCondition"]):
                continue
            failures += [a["AssertDescription"] for a in rule["Assertions"] if not self._truth(a["Assert"])]
        return failures


@pytest.fixture(scope="module", autouse=True)
def offline_aws() -> Iterator[None]:
    """The translator asks boto3 for a region; give it one and keep any real AWS config out."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        mp.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="module")
def default_stack() -> Stack:
    return Stack(sam_transform(REQUIRED), REQUIRED)


@pytest.fixture(scope="module")
def custom_stack() -> Stack:
    return Stack(sam_transform(CUSTOM), CUSTOM)


@pytest.fixture(scope="module")
def existing_bucket_stack() -> Stack:
    return Stack(sam_transform(EXISTING_BUCKET), EXISTING_BUCKET)


@pytest.fixture(scope="module")
def jwt_stack() -> Stack:
    return Stack(sam_transform(JWT), JWT)


@pytest.fixture(scope="module")
def cloudfront_stack() -> Stack:
    return Stack(sam_transform(CLOUDFRONT), CLOUDFRONT)


@pytest.fixture(scope="module")
def cloudfront_existing_bucket_stack() -> Stack:
    return Stack(sam_transform(CLOUDFRONT_EXISTING_BUCKET), CLOUDFRONT_EXISTING_BUCKET)


def _lint(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(include_checks=["I"], regions=REGIONS))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


def test_template_is_cfn_lint_clean() -> None:
    """Given template.yaml, when cfn-lint checks it (errors, warnings and informational rules,
    every region), then it reports nothing."""
    assert _lint(TEMPLATE.read_text()) == []


@pytest.mark.parametrize(
    "params",
    [REQUIRED, CUSTOM, JWT, EXISTING_BUCKET, CLOUDFRONT, CLOUDFRONT_EXISTING_BUCKET],
    ids=["defaults", "custom", "jwt", "existing-bucket", "cloudfront", "cloudfront-existing-bucket"],
)
def test_transformed_template_is_cfn_lint_clean(params: dict[str, str]) -> None:
    """Given the CloudFormation the SAM transform produces (cfn-lint checks SAM resources only
    loosely, the generated ones strictly), when cfn-lint checks it, then it reports nothing: for
    either archive delivery (S3, the default, and CloudFront)."""
    assert _lint(json.dumps(sam_transform(params))) == []


def test_function_is_built_by_the_makefile_from_src() -> None:
    """Given template.yaml, then the function is built by src/Makefile (no Python 3.13 or Docker
    needed) from src/ with the handler the code provides."""
    function = sam_template()["Resources"][FUNCTION]
    assert function["Metadata"] == {"BuildMethod": "makefile"}
    assert function["Properties"]["CodeUri"] == "src/"
    assert function["Properties"]["Handler"] == "handler.lambda_handler"


def test_function_runtime_and_limits(default_stack: Stack, custom_stack: Stack) -> None:
    """Given default parameters, when transformed, then the Lambda runs python3.13 on arm64 with
    X-Ray active tracing, 256 MB, and a timeout under API Gateway's 30 s integration limit; given
    TracingMode=PassThrough, then it records no traces."""
    fn = default_stack.props(FUNCTION)
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Timeout"] == 15
    assert fn["Timeout"] < 29
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["MemorySize"] == "256"
    assert fn["Handler"] == "handler.lambda_handler"
    assert custom_stack.props(FUNCTION)["TracingConfig"] == {"Mode": "PassThrough"}


def test_reserved_concurrency_only_when_asked(default_stack: Stack, custom_stack: Stack) -> None:
    """Given ReservedConcurrency left at -1, then the function reserves nothing; given 5, then 5."""
    assert "ReservedConcurrentExecutions" not in default_stack.props(FUNCTION)
    assert custom_stack.props(FUNCTION)["ReservedConcurrentExecutions"] == "5"


def test_environment_comes_from_parameters(default_stack: Stack, custom_stack: Stack) -> None:
    """Given the parameters, then each environment variable the function reads (README's
    configuration table, and Powertools' names) carries its parameter's value."""
    env = default_stack.props(FUNCTION)["Environment"]["Variables"]
    assert env == {
        "UPSTREAM_BASE_URL": "https://aggregator.example.com",
        "TOKEN_SECRET_ID": {"Ref": "TokenSecret"},
        "TOKEN_SECRET_FIELD": "token",
        "TOKEN_CACHE_SECONDS": "300",
        "ALLOWED_REDIRECT_HOSTS": "*.r2.cloudflarestorage.com,*.cdn-luma.com,*.lumalabs.ai",
        "URL_CACHE_MARGIN_SECONDS": "300",
        "URL_CACHE_MAX_ENTRIES": "1024",
        "UPSTREAM_CONNECT_TIMEOUT": "2",
        "UPSTREAM_READ_TIMEOUT": "5",
        "ARCHIVE_BUCKET": {"Ref": "ArchiveBucket"},
        "ARCHIVE_PREFIX": "luma/",
        "ARCHIVE_QUEUE_URL": {"Ref": "ArchiveQueue"},
        "ARCHIVE_LINK_SECONDS": "3600",
        "ARCHIVE_RECHECK_SECONDS": "60",
        "ARCHIVE_MAX_BYTES": "2147483648",
        "ARCHIVE_CDN_DOMAIN": "",
        "ARCHIVE_CDN_KEY_ID": "",
        "ARCHIVE_CDN_KEY_SECRET_ID": "",
        "POWERTOOLS_SERVICE_NAME": "luma-download",
        "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    custom_env = custom_stack.props(FUNCTION)["Environment"]["Variables"]
    assert custom_env["TOKEN_SECRET_ID"] == SECRET_ARN
    assert custom_env["TOKEN_SECRET_FIELD"] == "api_key"
    assert custom_env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert custom_env["UPSTREAM_CONNECT_TIMEOUT"] == "1.5"
    assert custom_env["UPSTREAM_READ_TIMEOUT"] == "8"
    assert custom_env["POWERTOOLS_SERVICE_NAME"] == "luma-dl-test"
    assert custom_env["POWERTOOLS_METRICS_NAMESPACE"] == "Acme/Luma"
    assert (custom_env["ARCHIVE_BUCKET"], custom_env["ARCHIVE_QUEUE_URL"]) == ("", "")  # archive off


@pytest.mark.parametrize("rule", NUMBER_RULES, ids=lambda rule: rule.name)
def test_numeric_parameters_have_the_bounds_the_code_enforces(rule: Any) -> None:
    """Given a numeric setting the function validates (``NUMBER_RULES``), then the parameter that
    feeds its variable (on the function, or on the worker for the worker's own) has the same
    default, MinValue and MaxValue: the stack refuses at deploy time what the function would refuse
    at run time (500 to every request)."""
    template = sam_template()
    variables = {
        **template["Resources"][WORKER]["Properties"]["Environment"]["Variables"],
        **template["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"],
    }
    source = variables.get(rule.name)
    assert isinstance(source, dict) and set(source) == {"Ref"}, f"{rule.name} is not set from a parameter"
    spec = template["Parameters"][source["Ref"]]
    assert spec["Type"] == "Number"
    bounds = (float(spec["Default"]), float(spec["MinValue"]), float(spec["MaxValue"]))
    assert bounds == (float(rule.default), float(rule.low), float(rule.high))


def test_http_api_routes_get_and_head_to_the_function(default_stack: Stack) -> None:
    """Given the transformed HTTP API, then GET and HEAD on the download route both proxy to the
    function (payload 2.0), and API Gateway may invoke it for exactly those two routes."""
    operations = default_stack.api_operations()
    assert set(operations) == {"get", "head"}
    for operation in operations.values():
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        assert f"${{{FUNCTION}.Arn}}" in integration["uri"]["Fn::Sub"]
    source_arns = sorted(
        p["Properties"]["SourceArn"]["Fn::Sub"][0]
        for p in default_stack.of_type("AWS::Lambda::Permission").values()
    )
    assert [arn.split("/", 2)[2] for arn in source_arns] == [
        "GET/luma/generations/*/download_video_url",
        "HEAD/luma/generations/*/download_video_url",
    ]


def test_stage_throttling_from_parameters(default_stack: Stack, custom_stack: Stack) -> None:
    """Given default or custom throttle parameters, then the $default stage throttles every route
    with them (50/20 by default)."""
    ((stage,),) = [list(default_stack.of_type("AWS::ApiGatewayV2::Stage").values())]
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": "50",
        "ThrottlingRateLimit": "20",
    }
    ((custom,),) = [list(custom_stack.of_type("AWS::ApiGatewayV2::Stage").values())]
    assert custom["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": "10",
        "ThrottlingRateLimit": "3",
    }


def security_schemes(stack: Stack) -> dict[str, Any]:
    return stack.props("LumaHttpApi")["Body"]["components"]["securitySchemes"]  # type: ignore[no-any-return]


def test_api_is_public_unless_auth_is_chosen(
    default_stack: Stack, custom_stack: Stack, jwt_stack: Stack
) -> None:
    """Given ApiAuth NONE, then neither route requires auth and no JWT authorizer exists; given
    AWS_IAM, then both require SigV4; given JWT, then both require a token from the configured
    issuer for one of the configured audiences, read from the Authorization header."""
    for operation in default_stack.api_operations().values():
        assert "security" not in operation
    assert set(security_schemes(default_stack)) == {"AWS_IAM"}

    for operation in custom_stack.api_operations().values():
        assert operation["security"] == [{"AWS_IAM": []}]
    assert security_schemes(custom_stack)["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"

    for operation in jwt_stack.api_operations().values():
        assert operation["security"] == [{"JwtAuthorizer": []}]
    authorizer = security_schemes(jwt_stack)["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer == {
        "type": "jwt",
        "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": JWT_ISSUER, "audience": ["client-one", "client-two"]},
    }


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        (JWT, []),
        ({**JWT, "JwtIssuer": ""}, ["ApiAuth=JWT needs JwtIssuer"]),
        ({**JWT, "JwtAudience": ""}, ["ApiAuth=JWT needs JwtAudience"]),
        (REQUIRED, []),
        ({**CUSTOM, "JwtIssuer": ""}, []),
    ],
    ids=["jwt-complete", "jwt-no-issuer", "jwt-no-audience", "public", "iam"],
)
def test_jwt_auth_cannot_deploy_without_issuer_and_audience(
    default_stack: Stack, params: dict[str, str], refused: list[str]
) -> None:
    """Given ApiAuth=JWT with the issuer or the audience left empty, then CloudFormation's template
    rules refuse the deploy (API Gateway would otherwise reject the authorizer mid-deploy); other
    auth choices need neither."""
    assert Stack(default_stack.cfn, params).rule_failures() == refused


def test_cors_allows_get_head_and_exposes_location(default_stack: Stack, custom_stack: Stack) -> None:
    """Given CorsAllowOrigins, then CORS allows those origins (a list) for GET/HEAD with the Accept
    header and a JWT in Authorization, and exposes Location to scripts."""
    cors = default_stack.props("LumaHttpApi")["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == ["*"]
    assert {"GET", "HEAD"} <= set(cors["allowMethods"])
    assert cors["allowHeaders"] == ["Accept", "Authorization"]
    assert cors["exposeHeaders"] == ["Location"]
    custom_cors = custom_stack.props("LumaHttpApi")["Body"]["x-amazon-apigateway-cors"]
    assert custom_cors["allowOrigins"] == ["https://app.example.com", "https://admin.example.com"]


def test_secret_is_created_when_no_arn_is_given(default_stack: Stack) -> None:
    """Given TokenSecretArn empty, then the stack creates a placeholder secret for the operator and
    the function, its policy and the output all point at it."""
    secret = default_stack.props("TokenSecret")
    assert json.loads(secret["SecretString"]["Fn::Sub"]) == {"token": "REPLACE_ME"}
    assert default_stack.outputs["TokenSecretArnOut"]["Value"] == {"Ref": "TokenSecret"}


def test_existing_secret_is_used_when_an_arn_is_given(custom_stack: Stack) -> None:
    """Given TokenSecretArn, then no secret is created and the policy and output name that ARN."""
    assert custom_stack.of_type("AWS::SecretsManager::Secret") == {}
    assert custom_stack.outputs["TokenSecretArnOut"]["Value"] == SECRET_ARN


def role_statements(stack: Stack, function: str = FUNCTION) -> dict[str, dict[str, Any]]:
    """A function role's inline statements, by Sid."""
    role = stack.props(f"{function}Role")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" for s in statements)
    return {s["Sid"]: s for s in statements}


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted([action] if isinstance(action, str) else action)


@pytest.mark.parametrize("which", ["default_stack", "custom_stack", "cloudfront_stack"])
def test_role_grants_only_what_the_function_uses(which: str, request: pytest.FixtureRequest) -> None:
    """Given either secret choice and tracing mode, then the function's role (its own, not SAM's)
    has no managed policy (SAM would attach AWSLambdaBasicExecutionRole, logs on any group, and
    AWSXrayWriteOnlyAccess, which adds sampling-rule reads) and exactly: write to its own log group,
    the two X-Ray writes Lambda's active tracing needs (only when tracing is Active: the only "*"),
    GetSecretValue on the one token secret, and with CloudFront delivery on the one signing key."""
    stack: Stack = request.getfixturevalue(which)
    archive = stack.condition("ArchiveOn")
    assert list(stack.of_type("AWS::IAM::Role")) == [f"{FUNCTION}Role"] + (
        [f"{WORKER}Role"] if archive else []
    )
    assert stack.props(FUNCTION)["Role"] == {"Fn::GetAtt": [f"{FUNCTION}Role", "Arn"]}
    role = stack.props(f"{FUNCTION}Role")
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    statements = role_statements(stack)
    tracing = stack.props(FUNCTION)["TracingConfig"]["Mode"] == "Active"
    expected = {"WriteOwnLogs", "ReadAggregatorToken"} | ({"SendTraces"} if tracing else set())
    if archive:
        expected |= {"ReadArchivedCopies", "FindArchivedCopies", "SendArchiveJobs"}
    if stack.condition("ArchiveCdnOn"):
        expected |= {"ReadCdnSigningKey"}
        signing_key = statements["ReadCdnSigningKey"]
        assert (actions(signing_key), signing_key["Resource"]) == (
            ["secretsmanager:GetSecretValue"],
            CDN_KEY_SECRET_ARN,
        )
    assert set(statements) == expected

    logs = statements["WriteOwnLogs"]
    assert actions(logs) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["Resource"] == {"Fn::GetAtt": ["LumaVideoLogGroup", "Arn"]}

    token = statements["ReadAggregatorToken"]
    assert actions(token) == ["secretsmanager:GetSecretValue"]
    assert token["Resource"] in ({"Ref": "TokenSecret"}, SECRET_ARN)

    # The only other "*": the archive's objects, <bucket>/<prefix>* (checked in the archive tests).
    wildcards = [sid for sid, statement in statements.items() if "*" in json.dumps(statement)]
    if archive:
        wildcards.remove("ReadArchivedCopies")
    if tracing:
        assert actions(statements["SendTraces"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
        assert wildcards == ["SendTraces"]
        assert statements["SendTraces"]["Resource"] == "*"
    else:
        assert wildcards == []


def test_secret_statement_follows_the_secret_choice(default_stack: Stack, custom_stack: Stack) -> None:
    """Given TokenSecretArn empty, then the role reads the created secret; given an ARN, that ARN."""
    assert role_statements(default_stack)["ReadAggregatorToken"]["Resource"] == {"Ref": "TokenSecret"}
    assert role_statements(custom_stack)["ReadAggregatorToken"]["Resource"] == SECRET_ARN


def test_log_group_is_the_functions_with_retention(default_stack: Stack, custom_stack: Stack) -> None:
    """Given LogRetentionDays (30 by default), then the function logs to /aws/lambda/<its name>,
    a group the stack owns with that retention."""
    fn = default_stack.props(FUNCTION)
    group = default_stack.props("LumaVideoLogGroup")
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{fn['FunctionName']['Fn::Sub']}"}
    assert group["RetentionInDays"] == "30"
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": "LumaVideoLogGroup"}
    assert custom_stack.props("LumaVideoLogGroup")["RetentionInDays"] == "14"


ACCESS_LOG_SAMPLE = {  # a value of the right kind for each variable, to check the format is JSON
    "$context.status": "302",
    "$context.responseLatency": "41",
}


def test_api_access_log_is_json_per_request(default_stack: Stack, custom_stack: Stack) -> None:
    """Given the stage, then API Gateway writes one JSON line per request (request id, IP, route,
    status, latency, integration error, ...) to a log group the stack owns, with LogRetentionDays,
    and no value a client chooses (path, user agent; API Gateway does not escape them)."""
    ((stage,),) = [list(default_stack.of_type("AWS::ApiGatewayV2::Stage").values())]
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fmt = settings["Format"]
    variables = re.findall(r"\$context\.[A-Za-z.]+", fmt)
    assert "$context.requestId" in variables
    line = re.sub(r"\$context\.[A-Za-z.]+", lambda m: ACCESS_LOG_SAMPLE.get(m.group(), "x"), fmt)
    record = json.loads(line)
    assert {
        "requestId": "x",
        "ip": "x",
        "routeKey": "x",
        "status": 302,
        "responseLatencyMs": 41,
        "integrationError": "x",
    }.items() <= record.items()
    assert not {"$context.path", "$context.identity.userAgent", "$context.resourcePath"} & set(variables)
    assert fmt.count('"$context.') + len(ACCESS_LOG_SAMPLE) == len(variables), "only numbers unquoted"

    group = default_stack.props("ApiAccessLogGroup")
    assert group["RetentionInDays"] == "30"
    assert custom_stack.props("ApiAccessLogGroup")["RetentionInDays"] == "14"
    assert default_stack.resources["ApiAccessLogGroup"]["DeletionPolicy"] == "Delete"


# Every alarm: (namespace, metric, dimensions, threshold parameter). The EMF ones read the function's
# own Errors metric, whose dimensions are exactly ErrorCode and service. To alarm on something new
# (e.g. a dead-letter queue's depth), add its resource to template.yaml and its row here.
FUNCTION_DIMENSIONS = [{"Name": "FunctionName", "Value": {"Ref": FUNCTION}}]
ALARMS: dict[str, tuple[str, str, Any, str]] = {
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors", FUNCTION_DIMENSIONS, "FunctionErrorsAlarmThreshold"),
    "ThrottlesAlarm": ("AWS/Lambda", "Throttles", FUNCTION_DIMENSIONS, "ThrottlesAlarmThreshold"),
    "DurationP99Alarm": ("AWS/Lambda", "Duration", FUNCTION_DIMENSIONS, "DurationP99AlarmMilliseconds"),
    "Api5xxAlarm": (
        "AWS/ApiGateway",
        "5xx",
        [{"Name": "ApiId", "Value": {"Ref": "LumaHttpApi"}}],
        "Api5xxAlarmThreshold",
    ),
    "MisconfiguredAlarm": ("<metrics namespace>", "Errors", "misconfigured", "MisconfiguredAlarmThreshold"),
    "BadUpstreamAlarm": ("<metrics namespace>", "Errors", "bad_upstream", "BadUpstreamAlarmThreshold"),
    "UpstreamUnavailableAlarm": (
        "<metrics namespace>",
        "Errors",
        "upstream_unavailable",
        "UpstreamUnavailableAlarmThreshold",
    ),
    "ArchiveDeadLetterAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ArchiveDeadLetterQueue", "QueueName"]}}],
        "ArchiveDeadLetterAlarmThreshold",
    ),
}
ARCHIVE_ALARMS = {"ArchiveDeadLetterAlarm"}


def error_codes() -> set[str]:
    """Every ``error.code`` the function can answer with (the classes in errors.py)."""
    found, todo = set(), [errors.LumaDownloadError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo += cls.__subclasses__()
    return found


@pytest.mark.parametrize("which", ["default_stack", "custom_stack"])
def test_alarms_notify_the_topic(which: str, request: pytest.FixtureRequest) -> None:
    """Given the stack, then exactly the listed alarms exist, each on its metric with its threshold
    parameter over 5 minutes, missing data not breaching, notifying the alarm topic when it fires and
    when it clears; the error-code alarms follow the service name and namespace parameters and name
    codes the function really answers with."""
    stack: Stack = request.getfixturevalue(which)
    alarms = stack.of_type("AWS::CloudWatch::Alarm")
    expected_alarms = set(ALARMS) if stack.condition("ArchiveOn") else set(ALARMS) - ARCHIVE_ALARMS
    assert set(alarms) == expected_alarms
    env = stack.props(FUNCTION)["Environment"]["Variables"]
    for name, (namespace, metric, dimensions, threshold) in ALARMS.items():
        if name not in expected_alarms:
            continue
        props = alarms[name]["Properties"]
        expected = (namespace, metric, dimensions)
        if namespace == "<metrics namespace>":
            assert dimensions in error_codes()
            code_and_service = [
                {"Name": "ErrorCode", "Value": dimensions},
                {"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]},
            ]
            expected = (env["POWERTOOLS_METRICS_NAMESPACE"], metric, code_and_service)
        assert (props["Namespace"], props["MetricName"], props["Dimensions"]) == expected, name
        assert props["Threshold"] == stack.parameter(threshold), name
        assert (props["Period"], props["EvaluationPeriods"]) == (300, 1)
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "AlarmTopic"}]
        assert props["AlarmName"]["Fn::Sub"].startswith(f"{PSEUDO['AWS::StackName']}-")
        assert ("ExtendedStatistic" in props) != ("Statistic" in props)


# Runs the real handler, in its own process (it reads its environment at import), with a deployed
# stack's environment; a malformed id answers 400 without any network call and counts one Errors.
EMIT_ONE_ERROR = """
import json, sys
import handler
from local.lambda_context import LocalLambdaContext
event = json.loads(open("events/bad_task_id_http_api.json").read())
handler.lambda_handler(event, LocalLambdaContext(timeout_seconds=15))
"""


def test_error_code_alarms_match_the_metric_the_function_writes(custom_stack: Stack) -> None:
    """Given the custom stack's function environment, when the real handler counts an error, then its
    EMF Errors metric has exactly the namespace and dimension names the error-code alarms watch, and
    the same service value: otherwise those alarms would never fire."""
    function_env = custom_stack.props(FUNCTION)["Environment"]["Variables"]
    env = {
        **{k: v for k, v in function_env.items() if isinstance(v, str)},
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "AWS_DEFAULT_REGION": PSEUDO["AWS::Region"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/nonexistent",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    }
    result = subprocess.run(
        [sys.executable, "-c", EMIT_ONE_ERROR],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"_aws"')]
    ((record, directive),) = [
        (r, d)
        for r in records
        for d in r["_aws"]["CloudWatchMetrics"]
        if any(m["Name"] == "Errors" for m in d["Metrics"])
    ]
    assert record["ErrorCode"] == "invalid_task_id"
    alarm = custom_stack.props("MisconfiguredAlarm")
    assert directive["Namespace"] == alarm["Namespace"] == "Acme/Luma"
    watched = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert [sorted(names) for names in directive["Dimensions"]] == [sorted(watched)]
    assert record["service"] == watched["service"] == "luma-dl-test"


def test_duration_alarm_is_p99_near_the_timeout(default_stack: Stack, custom_stack: Stack) -> None:
    """Given the defaults, then the duration alarm watches p99 at 80% of the function's timeout, and
    its parameter cannot exceed the timeout; a custom threshold is used as given."""
    props = default_stack.props("DurationP99Alarm")
    timeout_ms = default_stack.props(FUNCTION)["Timeout"] * 1000
    assert props["ExtendedStatistic"] == "p99"
    assert props["Unit"] == "Milliseconds"
    assert float(props["Threshold"]) == 0.8 * timeout_ms
    assert float(default_stack.cfn["Parameters"]["DurationP99AlarmMilliseconds"]["MaxValue"]) == timeout_ms
    assert custom_stack.props("DurationP99Alarm")["Threshold"] == "9000"


def test_alarm_email_is_subscribed_only_when_given(default_stack: Stack, custom_stack: Stack) -> None:
    """Given AlarmEmail empty, then the topic has no subscription; given an address, then that
    address is subscribed by e-mail."""
    assert default_stack.of_type("AWS::SNS::Topic").keys() == {"AlarmTopic"}
    assert default_stack.of_type("AWS::SNS::Subscription") == {}
    (subscription,) = custom_stack.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": "ops@example.com",
    }


def test_outputs_give_urls_function_and_secret(default_stack: Stack) -> None:
    """Given a deployed stack, then its outputs give the API URL, an example download URL, the
    function ARN (for Step Functions / lambda:Invoke), the secret in use, the alarm topic, the
    access log group, and the archive's worker (for workflows), bucket and queues."""
    outputs = {name: out["Value"] for name, out in default_stack.outputs.items()}
    assert set(outputs) == {
        "ApiUrl",
        "ExampleUrl",
        "FunctionArn",
        "TokenSecretArnOut",
        "AlarmTopicArn",
        "ApiAccessLogGroupName",
        "ArchiveWorkerFunctionArn",
        "ArchiveBucketNameOut",
        "ArchiveQueueUrl",
        "ArchiveDeadLetterQueueUrl",
        "ArchiveEventBusArn",
    }
    assert outputs["ArchiveWorkerFunctionArn"] == {"Fn::GetAtt": [WORKER, "Arn"]}
    assert outputs["ArchiveBucketNameOut"] == {"Ref": "ArchiveBucket"}
    assert outputs["ArchiveQueueUrl"] == {"Ref": "ArchiveQueue"}
    assert outputs["ArchiveDeadLetterQueueUrl"] == {"Ref": "ArchiveDeadLetterQueue"}
    assert outputs["AlarmTopicArn"] == {"Ref": "AlarmTopic"}
    assert outputs["ApiAccessLogGroupName"] == {"Ref": "ApiAccessLogGroup"}
    api_url = outputs["ApiUrl"]["Fn::Sub"]
    assert api_url.startswith("https://${LumaHttpApi}.execute-api.")
    assert outputs["ExampleUrl"]["Fn::Sub"] == api_url + ROUTE.replace("{task_id}", "<task_id>")
    assert outputs["FunctionArn"] == {"Fn::GetAtt": [FUNCTION, "Arn"]}


def test_parameter_contract() -> None:
    """Given the parameters, then the upstream URL is required and https-only, the secret ARN is
    empty or an ARN, and the defaults are the documented ones."""
    params = sam_template()["Parameters"]
    upstream = params["UpstreamBaseUrl"]
    assert "Default" not in upstream
    assert re.fullmatch(upstream["AllowedPattern"], "https://api.example.com/v1")
    assert not re.fullmatch(upstream["AllowedPattern"], "http://api.example.com")
    arn_pattern = params["TokenSecretArn"]["AllowedPattern"]
    assert re.fullmatch(arn_pattern, "")
    assert re.fullmatch(arn_pattern, SECRET_ARN)
    assert not re.fullmatch(arn_pattern, "luma/aggregator-token")
    assert params["ApiAuth"]["AllowedValues"] == ["NONE", "AWS_IAM", "JWT"]
    assert re.fullmatch(params["JwtIssuer"]["AllowedPattern"], JWT_ISSUER)
    assert not re.fullmatch(params["JwtIssuer"]["AllowedPattern"], "http://issuer.example.com")
    email = params["AlarmEmail"]["AllowedPattern"]
    assert re.fullmatch(email, "") and re.fullmatch(email, "ops@example.com")
    assert not re.fullmatch(email, "ops at example.com")
    namespace = params["PowertoolsMetricsNamespace"]["AllowedPattern"]
    assert re.fullmatch(namespace, "Acme/Luma")
    assert not re.fullmatch(namespace, "AWS/Lambda")
    defaults = {name: str(spec.get("Default")) for name, spec in params.items()}
    assert {
        k: defaults[k]
        for k in (
            "ApiAuth",
            "CorsAllowOrigins",
            "ThrottleBurstLimit",
            "ThrottleRateLimit",
            "LogRetentionDays",
            "TokenSecretArn",
            "TokenSecretField",
            "ReservedConcurrency",
            "TracingMode",
            "AlarmEmail",
            "JwtIssuer",
            "JwtAudience",
        )
    } == {
        "ApiAuth": "NONE",
        "CorsAllowOrigins": "*",
        "ThrottleBurstLimit": "50",
        "ThrottleRateLimit": "20",
        "LogRetentionDays": "30",
        "TokenSecretArn": "",
        "TokenSecretField": "token",
        "ReservedConcurrency": "-1",
        "TracingMode": "Active",
        "AlarmEmail": "",
        "JwtIssuer": "",
        "JwtAudience": "",
    }


# --- the archive (issue 9) ---------------------------------------------------------------------------

ARCHIVE_RESOURCES = {
    "ArchiveBucket": "AWS::S3::Bucket",
    "ArchiveBucketPolicy": "AWS::S3::BucketPolicy",
    "ArchiveQueue": "AWS::SQS::Queue",
    "ArchiveDeadLetterQueue": "AWS::SQS::Queue",
    "ArchiveWorkerLogGroup": "AWS::Logs::LogGroup",
    f"{WORKER}Role": "AWS::IAM::Role",
    WORKER: "AWS::Lambda::Function",
    f"{WORKER}ArchiveJobs": "AWS::Lambda::EventSourceMapping",
    "ArchiveDeadLetterAlarm": "AWS::CloudWatch::Alarm",
}
OBJECTS = {"Fn::Sub": ["arn:aws:s3:::${Bucket}/luma/*", {"Bucket": {"Ref": "ArchiveBucket"}}]}
BUCKET = {"Fn::Sub": ["arn:aws:s3:::${Bucket}", {"Bucket": {"Ref": "ArchiveBucket"}}]}
QUEUE_ARN = {"Fn::GetAtt": ["ArchiveQueue", "Arn"]}


def test_the_archive_is_on_by_default_in_a_private_bucket_the_stack_keeps(default_stack: Stack) -> None:
    """Given the defaults, then the stack has the archive: a bucket with Block Public Access,
    bucket-owner-enforced ownership, default encryption, incomplete uploads aborted after a day and no
    expiry, kept when the stack goes (Retain), and a policy refusing every request without TLS."""
    for name, kind in ARCHIVE_RESOURCES.items():
        assert default_stack.resources[name]["Type"] == kind, name
    bucket = default_stack.resources["ArchiveBucket"]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["LifecycleConfiguration"]["Rules"] == [
        {
            "Id": "AbortIncompleteUploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
    (statement,) = default_stack.props("ArchiveBucketPolicy")["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["ArchiveBucket", "Arn"]},
        {"Fn::Sub": "${ArchiveBucket.Arn}/*"},
    ]


def test_copies_expire_only_when_asked() -> None:
    """Given ArchiveExpiryDays=30, then copies under the prefix are deleted 30 days after they are
    made, beside the rule for incomplete uploads."""
    params = {**REQUIRED, "ArchiveExpiryDays": "30"}
    rules = Stack(sam_transform(params), params).props("ArchiveBucket")["LifecycleConfiguration"]["Rules"]
    assert [rule["Id"] for rule in rules] == ["AbortIncompleteUploads", "ExpireCopies"]
    assert rules[1] == {
        "Id": "ExpireCopies",
        "Status": "Enabled",
        "Prefix": "luma/",
        "ExpirationInDays": "30",
    }


def test_the_queue_retries_a_job_a_few_times_then_keeps_it_aside(default_stack: Stack) -> None:
    """Given the stack, then a job is received at most 3 times before it moves to the dead-letter
    queue, which keeps it longer; the visibility timeout is at least six times the worker's timeout."""
    queue = default_stack.props("ArchiveQueue")
    dead = default_stack.props("ArchiveDeadLetterQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ArchiveDeadLetterQueue", "Arn"]},
        "maxReceiveCount": "3",
    }
    assert queue["VisibilityTimeout"] >= 6 * default_stack.props(WORKER)["Timeout"]
    assert dead["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_the_worker_is_the_same_code_with_the_time_and_memory_of_a_download(
    default_stack: Stack, existing_bucket_stack: Stack
) -> None:
    """Given the stack, then the worker is its own function built from the same code and handler, with
    a longer timeout and more memory, consuming the queue one job per invocation, reporting partial
    failures, at most ArchiveWorkerConcurrency at once; it reads the same settings and sends no jobs."""
    template = sam_template()["Resources"]
    for key in ("CodeUri", "Handler", "Runtime", "Architectures"):
        assert template[WORKER]["Properties"][key] == template[FUNCTION]["Properties"][key], key
    assert template[WORKER]["Metadata"] == template[FUNCTION]["Metadata"]
    worker, function = default_stack.props(WORKER), default_stack.props(FUNCTION)
    assert worker["Timeout"] > function["Timeout"]
    assert int(worker["MemorySize"]) > int(function["MemorySize"])
    assert worker["Role"] == {"Fn::GetAtt": [f"{WORKER}Role", "Arn"]}
    assert worker["LoggingConfig"]["LogGroup"] == {"Ref": "ArchiveWorkerLogGroup"}
    mapping = default_stack.props(f"{WORKER}ArchiveJobs")
    assert mapping["EventSourceArn"] == QUEUE_ARN
    assert mapping["FunctionName"] == {"Ref": WORKER}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": "5"}
    worker_env = worker["Environment"]["Variables"]
    function_env = function["Environment"]["Variables"]
    shared = set(function_env) - {"ARCHIVE_QUEUE_URL", "ARCHIVE_RECHECK_SECONDS", "URL_CACHE_MARGIN_SECONDS"}
    shared -= {"URL_CACHE_MAX_ENTRIES", *CDN_VARIABLES}
    assert {k: worker_env[k] for k in shared} == {k: function_env[k] for k in shared}
    assert set(worker_env) - shared == {"ARCHIVE_MAX_RECEIVES", "EVENT_BUS_NAME"}
    assert "ARCHIVE_QUEUE_URL" not in worker_env
    existing = existing_bucket_stack.props(WORKER)
    assert existing["MemorySize"] == "1024"
    assert existing_bucket_stack.props(f"{WORKER}ArchiveJobs")["ScalingConfig"] == {"MaximumConcurrency": "3"}


def test_each_function_may_do_only_its_part_of_the_archive(default_stack: Stack) -> None:
    """Given the stack, then the request path may read copies under the prefix, find them (ListBucket,
    so a missing copy is a 404) and send jobs; the worker may also write copies and abort its multipart
    uploads under the prefix, and consume the queue; neither may do more."""
    request_path = role_statements(default_stack)
    assert (actions(request_path["ReadArchivedCopies"]), request_path["ReadArchivedCopies"]["Resource"]) == (
        ["s3:GetObject"],
        OBJECTS,
    )
    assert (actions(request_path["FindArchivedCopies"]), request_path["FindArchivedCopies"]["Resource"]) == (
        ["s3:ListBucket"],
        BUCKET,
    )
    assert (actions(request_path["SendArchiveJobs"]), request_path["SendArchiveJobs"]["Resource"]) == (
        ["sqs:SendMessage"],
        QUEUE_ARN,
    )
    worker = role_statements(default_stack, WORKER)
    assert set(worker) == {
        "WriteOwnLogs",
        "SendTraces",
        "ReadAggregatorToken",
        "CopyVideos",
        "FindArchivedCopies",
        "ConsumeArchiveJobs",
        "PutArchiveEvents",
    }
    assert worker["WriteOwnLogs"]["Resource"] == {"Fn::GetAtt": ["ArchiveWorkerLogGroup", "Arn"]}
    assert worker["ReadAggregatorToken"]["Resource"] == {"Ref": "TokenSecret"}
    assert actions(worker["CopyVideos"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert worker["CopyVideos"]["Resource"] == OBJECTS
    assert (actions(worker["FindArchivedCopies"]), worker["FindArchivedCopies"]["Resource"]) == (
        ["s3:ListBucket"],
        BUCKET,
    )
    assert actions(worker["ConsumeArchiveJobs"]) == [
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]
    assert worker["ConsumeArchiveJobs"]["Resource"] == QUEUE_ARN
    assert "ManagedPolicyArns" not in default_stack.props(f"{WORKER}Role")


def test_an_existing_bucket_is_used_not_created(existing_bucket_stack: Stack) -> None:
    """Given ArchiveBucketName and ArchivePrefix, then no bucket or bucket policy is created (the
    deployer's bucket keeps its own), and both functions and both roles name that bucket and prefix."""
    stack = existing_bucket_stack
    assert stack.of_type("AWS::S3::Bucket") == {}
    assert stack.of_type("AWS::S3::BucketPolicy") == {}
    objects = {"Fn::Sub": ["arn:aws:s3:::${Bucket}/copies/*", {"Bucket": "acme-luma-videos"}]}
    assert role_statements(stack)["ReadArchivedCopies"]["Resource"] == objects
    assert role_statements(stack, WORKER)["CopyVideos"]["Resource"] == objects
    for function in (FUNCTION, WORKER):
        env = stack.props(function)["Environment"]["Variables"]
        assert (env["ARCHIVE_BUCKET"], env["ARCHIVE_PREFIX"]) == ("acme-luma-videos", "copies/")
    assert stack.outputs["ArchiveBucketNameOut"]["Value"] == "acme-luma-videos"


def test_archive_off_creates_none_of_it(custom_stack: Stack) -> None:
    """Given ArchiveEnabled=false, then there is no bucket, queue, worker or dead-letter alarm, the
    function's archive variables are empty (it behaves as without an archive) and its role has no
    archive statement."""
    assert not set(ARCHIVE_RESOURCES) & set(custom_stack.resources)
    assert not {"ReadArchivedCopies", "FindArchivedCopies", "SendArchiveJobs"} & set(
        role_statements(custom_stack)
    )
    assert not {name for name in custom_stack.outputs if name.startswith("Archive")}


def test_archive_parameters_are_checked_at_deploy_time() -> None:
    """Given the archive's string parameters, then a bucket name and a key prefix are checked as the
    function checks them, and the archive is on by default."""
    params = sam_template()["Parameters"]
    assert params["ArchiveEnabled"]["Default"] == "true"
    bucket = params["ArchiveBucketName"]["AllowedPattern"]
    assert re.fullmatch(bucket, "") and re.fullmatch(bucket, "acme-luma-videos")
    assert not re.fullmatch(bucket, "Acme_Videos")
    prefix = params["ArchivePrefix"]["AllowedPattern"]
    assert re.fullmatch(prefix, "luma/") and re.fullmatch(prefix, "")
    assert not re.fullmatch(prefix, "/luma/") and not re.fullmatch(prefix, "luma videos/")
    assert params["ArchiveExpiryDays"]["Default"] == 0


# --- CloudFront delivery and the archive's events (issue 18) ------------------------------------------

CDN_VARIABLES = ("ARCHIVE_CDN_DOMAIN", "ARCHIVE_CDN_KEY_ID", "ARCHIVE_CDN_KEY_SECRET_ID")
CDN_RESOURCES = {
    "ArchiveCdnOriginAccessControl": "AWS::CloudFront::OriginAccessControl",
    "ArchiveCdnKey": "AWS::CloudFront::PublicKey",
    "ArchiveCdnKeyGroup": "AWS::CloudFront::KeyGroup",
    "ArchiveCdn": "AWS::CloudFront::Distribution",
}
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # the managed cache policy's id
DISTRIBUTION_ARN = {"Fn::Sub": "arn:aws:cloudfront::123456789012:distribution/${ArchiveCdn}"}


def cloudfront_of(stack: Stack) -> dict[str, dict[str, Any]]:
    return {**stack.of_type("AWS::CloudFront::Distribution"), **stack.of_type("AWS::CloudFront::PublicKey")}


def test_s3_delivery_is_the_default_and_adds_no_cdn(
    default_stack: Stack, existing_bucket_stack: Stack
) -> None:
    """Given the defaults (ArchiveDelivery=S3), then the stack has no CloudFront resource, the bucket
    policy only refuses plain HTTP, the function's CDN variables are empty (links are presigned S3
    links) and its role reads no signing key."""
    assert sam_template()["Parameters"]["ArchiveDelivery"]["Default"] == "S3"
    for stack in (default_stack, existing_bucket_stack):
        assert not set(CDN_RESOURCES) & set(stack.resources)
        env = stack.props(FUNCTION)["Environment"]["Variables"]
        assert [env[name] for name in CDN_VARIABLES] == ["", "", ""]
        assert "ReadCdnSigningKey" not in role_statements(stack)
        assert not {name for name in stack.outputs if name.startswith("ArchiveCdn")}
    (statement,) = default_stack.props("ArchiveBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Sid"] == "TlsOnly"


def test_cloudfront_delivery_serves_the_bucket_to_signed_urls_only(cloudfront_stack: Stack) -> None:
    """Given ArchiveDelivery=CloudFront, then one distribution has the archive bucket as its one origin,
    reached through an origin access control that always signs with SigV4; its one behaviour trusts a
    key group holding the given public key (only signed URLs play), is HTTPS only for viewers, GET and
    HEAD, HTTP/2 and HTTP/3, the managed CachingOptimized policy, and the chosen price class."""
    stack = cloudfront_stack
    for name, kind in CDN_RESOURCES.items():
        assert stack.resources[name]["Type"] == kind, name
    access = stack.props("ArchiveCdnOriginAccessControl")["OriginAccessControlConfig"]
    assert (
        access["OriginAccessControlOriginType"],
        access["SigningBehavior"],
        access["SigningProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )
    assert stack.props("ArchiveCdnKey")["PublicKeyConfig"]["EncodedKey"] == CDN_PUBLIC_KEY
    assert stack.props("ArchiveCdnKeyGroup")["KeyGroupConfig"]["Items"] == [{"Ref": "ArchiveCdnKey"}]

    config = stack.props("ArchiveCdn")["DistributionConfig"]
    assert config["Enabled"] is True
    assert config["HttpVersion"] == "http2and3"
    assert config["PriceClass"] == "PriceClass_200"
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["ArchiveBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ArchiveCdnOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy identity beside it
    assert "CacheBehaviors" not in config  # one behaviour: every path needs a signature
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["CachePolicyId"] == CACHING_OPTIMIZED
    assert behaviour["TrustedKeyGroups"] == [{"Ref": "ArchiveCdnKeyGroup"}]
    assert stack.outputs["ArchiveCdnDomainName"]["Value"] == {"Fn::GetAtt": ["ArchiveCdn", "DomainName"]}
    assert stack.outputs["ArchiveCdnDistributionArn"]["Value"] == DISTRIBUTION_ARN


def test_only_the_distribution_may_read_the_copies_through_the_bucket_policy(cloudfront_stack: Stack) -> None:
    """Given CloudFront delivery on the created bucket, then its policy keeps refusing plain HTTP and
    adds one grant: CloudFront may get objects under the prefix when the request comes from this
    stack's distribution (aws:SourceArn), and nothing else."""
    statements = cloudfront_stack.props("ArchiveBucketPolicy")["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in statements] == ["TlsOnly", "ArchiveCdnReadsCopies"]
    assert statements[0]["Effect"] == "Deny"
    assert statements[1] == {
        "Sid": "ArchiveCdnReadsCopies",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": {"Fn::Sub": "${ArchiveBucket.Arn}/luma/*"},
        "Condition": {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}},
    }


def test_cloudfront_delivery_on_an_existing_bucket_leaves_its_policy_alone(
    cloudfront_existing_bucket_stack: Stack,
) -> None:
    """Given CloudFront delivery and an existing bucket, then the distribution's origin is that bucket's
    regional endpoint, and no bucket policy is written (it would replace the deployer's own); the
    distribution's ARN is an output, for the deployer's own statement."""
    stack = cloudfront_existing_bucket_stack
    assert stack.of_type("AWS::S3::BucketPolicy") == {}
    (origin,) = stack.props("ArchiveCdn")["DistributionConfig"]["Origins"]
    assert origin["DomainName"] == {"Fn::Sub": "acme-luma-videos.s3.eu-west-1.amazonaws.com"}
    assert stack.outputs["ArchiveCdnDistributionArn"]["Value"] == DISTRIBUTION_ARN


def test_the_request_path_signs_cloudfront_links_and_the_worker_does_not(cloudfront_stack: Stack) -> None:
    """Given CloudFront delivery, then the request path gets the distribution's domain, the public
    key's id (Key-Pair-Id) and the private key's secret, and its role may read exactly that secret;
    the worker (whose answers stay presigned S3 links) gets none of them and may not read it."""
    env = cloudfront_stack.props(FUNCTION)["Environment"]["Variables"]
    assert {name: env[name] for name in CDN_VARIABLES} == {
        "ARCHIVE_CDN_DOMAIN": {"Fn::GetAtt": ["ArchiveCdn", "DomainName"]},
        "ARCHIVE_CDN_KEY_ID": {"Ref": "ArchiveCdnKey"},
        "ARCHIVE_CDN_KEY_SECRET_ID": CDN_KEY_SECRET_ARN,
    }
    assert not set(CDN_VARIABLES) & set(cloudfront_stack.props(WORKER)["Environment"]["Variables"])
    assert CDN_KEY_SECRET_ARN not in json.dumps(role_statements(cloudfront_stack, WORKER))


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        (CLOUDFRONT, []),
        ({**CLOUDFRONT, "ArchiveCdnPublicKey": ""}, ["ArchiveDelivery=CloudFront needs ArchiveCdnPublicKey"]),
        (
            {**CLOUDFRONT, "ArchiveCdnKeySecretArn": ""},
            ["ArchiveDelivery=CloudFront needs ArchiveCdnKeySecretArn"],
        ),
        ({**CLOUDFRONT, "ArchiveEnabled": "false"}, ["ArchiveDelivery=CloudFront needs ArchiveEnabled=true"]),
        ({**REQUIRED, "ArchiveEnabled": "false"}, []),
    ],
    ids=["complete", "no-public-key", "no-private-key", "no-archive", "s3-without-keys"],
)
def test_cloudfront_delivery_cannot_deploy_without_the_archive_or_a_key_pair(
    default_stack: Stack, params: dict[str, str], refused: list[str]
) -> None:
    """Given ArchiveDelivery=CloudFront without a public key, without the private key's secret, or
    with the archive off, then the template's rules refuse the deploy; S3 delivery needs none."""
    assert Stack(default_stack.cfn, params).rule_failures() == refused


def test_cdn_parameters_are_checked_at_deploy_time() -> None:
    """Given the CloudFront parameters, then the delivery is S3 or CloudFront, the public key is empty
    or a PEM public key, the secret empty or a Secrets Manager ARN, the price class one of three."""
    params = sam_template()["Parameters"]
    assert params["ArchiveDelivery"]["AllowedValues"] == ["S3", "CloudFront"]
    key = params["ArchiveCdnPublicKey"]["AllowedPattern"]
    assert re.fullmatch(key, "") and re.fullmatch(key, CDN_PUBLIC_KEY)
    assert not re.fullmatch(key, CDN_PUBLIC_KEY.replace("PUBLIC", "PRIVATE"))
    secret = params["ArchiveCdnKeySecretArn"]["AllowedPattern"]
    assert re.fullmatch(secret, "") and re.fullmatch(secret, CDN_KEY_SECRET_ARN)
    assert not re.fullmatch(secret, "luma/cdn-signing-key")
    assert params["ArchiveCdnPriceClass"]["AllowedValues"] == [
        "PriceClass_100",
        "PriceClass_200",
        "PriceClass_All",
    ]
    assert params["ArchiveCdnPriceClass"]["Default"] == "PriceClass_100"


BUS_ARN = "arn:aws:events:eu-west-1:123456789012:event-bus/{}"


def bus_arn(stack: Stack) -> Any:
    """The worker's PutEvents resource, with its Fn::Sub resolved as CloudFormation would."""
    arn = role_statements(stack, WORKER)["PutArchiveEvents"]["Resource"]
    return arn["Fn::Sub"] if set(arn) == {"Fn::Sub"} else arn


@pytest.mark.parametrize(
    ("which", "bus"), [("default_stack", "default"), ("cloudfront_stack", "luma-events")]
)
def test_the_worker_may_put_events_on_its_one_bus_and_the_request_path_may_not(
    which: str, bus: str, request: pytest.FixtureRequest
) -> None:
    """Given EventBusName (the account's default bus unless chosen), then the worker is told the bus
    (EVENT_BUS_NAME) and its role may events:PutEvents on that one bus's ARN; the request path's role
    has no EventBridge action at all, and the bus is an output."""
    stack: Stack = request.getfixturevalue(which)
    statement = role_statements(stack, WORKER)["PutArchiveEvents"]
    assert actions(statement) == ["events:PutEvents"]
    assert bus_arn(stack) == BUS_ARN.format(bus)
    assert stack.props(WORKER)["Environment"]["Variables"]["EVENT_BUS_NAME"] == bus
    request_path = json.dumps(role_statements(stack))
    assert "events:" not in request_path
    assert "EVENT_BUS_NAME" not in stack.props(FUNCTION)["Environment"]["Variables"]
    assert stack.outputs["ArchiveEventBusArn"]["Value"] == {"Fn::Sub": BUS_ARN.format(bus)}


def test_no_bus_no_events() -> None:
    """Given EventBusName empty, then the worker is told no bus and may put no event."""
    params = {**REQUIRED, "EventBusName": ""}
    stack = Stack(sam_transform(params), params)
    assert stack.props(WORKER)["Environment"]["Variables"]["EVENT_BUS_NAME"] == ""
    assert "PutArchiveEvents" not in role_statements(stack, WORKER)
    assert "ArchiveEventBusArn" not in stack.outputs
    pattern = sam_template()["Parameters"]["EventBusName"]["AllowedPattern"]
    assert (
        re.fullmatch(pattern, "") and re.fullmatch(pattern, "default") and re.fullmatch(pattern, "a/b.c_d-e")
    )
    assert not re.fullmatch(pattern, "arn:aws:events:eu-west-1:123456789012:event-bus/x")


@pytest.mark.parametrize(("which", "receives"), [("default_stack", "3"), ("cloudfront_stack", "5")])
def test_the_worker_knows_a_jobs_last_receive_from_the_queues_own_setting(
    which: str, receives: str, request: pytest.FixtureRequest
) -> None:
    """Given ArchiveMaxReceives (3 unless chosen), then the queue moves a job to the dead-letter queue
    after that many receives, and the worker's ARCHIVE_MAX_RECEIVES is that same parameter: one value,
    so "Video Archive Failed" goes out on exactly the last receive."""
    stack: Stack = request.getfixturevalue(which)
    assert stack.props("ArchiveQueue")["RedrivePolicy"]["maxReceiveCount"] == receives
    assert stack.props(WORKER)["Environment"]["Variables"]["ARCHIVE_MAX_RECEIVES"] == receives
    resources = sam_template()["Resources"]
    source = {"Ref": "ArchiveMaxReceives"}
    assert resources["ArchiveQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == source
    assert resources[WORKER]["Properties"]["Environment"]["Variables"]["ARCHIVE_MAX_RECEIVES"] == source


def readme_events_snippet() -> dict[str, Any]:
    """The SAM template under README's "### Events" (the first yaml block there)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Events\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README's Events section has no yaml block"
    return yaml_parse(block.group(1))  # type: ignore[no-any-return]


def test_the_readme_rule_starts_a_state_machine_on_video_archived() -> None:
    """Given the README's EventBridge example, when SAM transforms it, then it lints clean and makes a
    rule on the stack's default bus matching exactly what the worker sends for a new copy (source and
    detail-type from ``archive.events``), whose target starts the state machine with the event's
    detail, through a role that may start it."""
    template = readme_events_snippet()
    for resource in template["Resources"].values():
        if "DefinitionUri" in resource.get("Properties", {}):
            resource["Properties"]["DefinitionUri"] = "s3://example-artifacts/process_video.asl.json"
    cfn = transform(template, {}, OfflinePolicyLoader())
    assert _lint(json.dumps(cfn)) == []
    ((rule,),) = [[r for r in cfn["Resources"].values() if r["Type"] == "AWS::Events::Rule"]]
    assert rule["Properties"]["EventPattern"] == {"source": [events.SOURCE], "detail-type": [events.ARCHIVED]}
    assert rule["Properties"]["EventBusName"] == sam_template()["Parameters"]["EventBusName"]["Default"]
    (target,) = rule["Properties"]["Targets"]
    machines = [
        name for name, r in cfn["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert target["Arn"] == {"Ref": machines[0]}
    assert target["InputPath"] == "$.detail"
    role = cfn["Resources"][target["RoleArn"]["Fn::GetAtt"][0]]
    assert "states:StartExecution" in json.dumps(role)
