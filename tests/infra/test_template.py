"""template.yaml: lint-clean, and the SAM transform yields the intended CloudFormation stack.

The transform runs offline (samtranslator with a managed-policy stub, no AWS calls). Conditions
are then evaluated for a given set of parameter values, the way CloudFormation would, so each
test asserts what a deployed stack would contain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.helpers import REGIONS
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ROUTE = "/luma/generations/{task_id}/download_video_url"
FUNCTION = "LumaVideoFunction"
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
}
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
    # `sam deploy` uploads the build and rewrites CodeUri to the S3 object; mimic that.
    template["Resources"][FUNCTION]["Properties"]["CodeUri"] = "s3://example-artifacts/luma-download.zip"
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
        self.outputs = {name: self.resolve(out) for name, out in cfn.get("Outputs", {}).items()}

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
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return {"Fn::Sub": re.sub(r"\$\{([^}!]+)\}", self._sub_var, value["Fn::Sub"])}
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


def _lint(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(include_checks=["I"], regions=REGIONS))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


def test_template_is_cfn_lint_clean() -> None:
    """Given template.yaml, when cfn-lint checks it (errors, warnings and informational rules,
    every region), then it reports nothing."""
    assert _lint(TEMPLATE.read_text()) == []


@pytest.mark.parametrize("params", [REQUIRED, CUSTOM], ids=["defaults", "custom"])
def test_transformed_template_is_cfn_lint_clean(params: dict[str, str]) -> None:
    """Given the CloudFormation the SAM transform produces (cfn-lint checks SAM resources only
    loosely, the generated ones strictly), when cfn-lint checks it, then it reports nothing."""
    assert _lint(json.dumps(sam_transform(params))) == []


def test_function_is_built_by_the_makefile_from_src() -> None:
    """Given template.yaml, then the function is built by src/Makefile (no Python 3.13 or Docker
    needed) from src/ with the handler the code provides."""
    function = sam_template()["Resources"][FUNCTION]
    assert function["Metadata"] == {"BuildMethod": "makefile"}
    assert function["Properties"]["CodeUri"] == "src/"
    assert function["Properties"]["Handler"] == "handler.lambda_handler"


def test_function_runtime_and_limits(default_stack: Stack) -> None:
    """Given default parameters, when transformed, then the Lambda runs python3.13 on arm64 with
    X-Ray tracing, 256 MB, and a timeout under API Gateway's 30 s integration limit."""
    fn = default_stack.props(FUNCTION)
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Timeout"] == 15
    assert fn["Timeout"] < 29
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["MemorySize"] == "256"
    assert fn["Handler"] == "handler.lambda_handler"


def test_reserved_concurrency_only_when_asked(default_stack: Stack, custom_stack: Stack) -> None:
    """Given ReservedConcurrency left at -1, then the function reserves nothing; given 5, then 5."""
    assert "ReservedConcurrentExecutions" not in default_stack.props(FUNCTION)
    assert custom_stack.props(FUNCTION)["ReservedConcurrentExecutions"] == "5"


def test_environment_comes_from_parameters(default_stack: Stack, custom_stack: Stack) -> None:
    """Given the parameters, then each environment variable carries its parameter's value and the
    Powertools service/namespace are fixed."""
    env = default_stack.props(FUNCTION)["Environment"]["Variables"]
    assert env == {
        "UPSTREAM_BASE_URL": "https://aggregator.example.com",
        "TOKEN_SECRET_ID": {"Ref": "TokenSecret"},
        "TOKEN_SECRET_FIELD": "token",
        "TOKEN_CACHE_SECONDS": "300",
        "ALLOWED_REDIRECT_HOSTS": "*.r2.cloudflarestorage.com,*.cdn-luma.com,*.lumalabs.ai",
        "URL_CACHE_MARGIN_SECONDS": "300",
        "URL_CACHE_MAX_ENTRIES": "1024",
        "POWERTOOLS_SERVICE_NAME": "luma-download",
        "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    custom_env = custom_stack.props(FUNCTION)["Environment"]["Variables"]
    assert custom_env["TOKEN_SECRET_ID"] == SECRET_ARN
    assert custom_env["TOKEN_SECRET_FIELD"] == "api_key"
    assert custom_env["POWERTOOLS_LOG_LEVEL"] == "DEBUG"


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


def test_api_is_public_unless_iam_auth_is_chosen(default_stack: Stack, custom_stack: Stack) -> None:
    """Given ApiAuth NONE, then neither route requires auth; given AWS_IAM, then both require
    SigV4 (the AWS_IAM scheme)."""
    for operation in default_stack.api_operations().values():
        assert "security" not in operation
    for operation in custom_stack.api_operations().values():
        assert operation["security"] == [{"AWS_IAM": []}]
    scheme = custom_stack.props("LumaHttpApi")["Body"]["components"]["securitySchemes"]["AWS_IAM"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_cors_allows_get_head_and_exposes_location(default_stack: Stack, custom_stack: Stack) -> None:
    """Given CorsAllowOrigins, then CORS allows those origins (a list) for GET/HEAD with the Accept
    header, and exposes Location to scripts."""
    cors = default_stack.props("LumaHttpApi")["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == ["*"]
    assert {"GET", "HEAD"} <= set(cors["allowMethods"])
    assert cors["allowHeaders"] == ["Accept"]
    assert cors["exposeHeaders"] == ["Location"]
    custom_cors = custom_stack.props("LumaHttpApi")["Body"]["x-amazon-apigateway-cors"]
    assert custom_cors["allowOrigins"] == ["https://app.example.com", "https://admin.example.com"]


def test_secret_is_created_when_no_arn_is_given(default_stack: Stack) -> None:
    """Given TokenSecretArn empty, then the stack creates a placeholder secret for the operator and
    the function, its policy and the output all point at it."""
    secret = default_stack.props("TokenSecret")
    assert json.loads(secret["SecretString"]["Fn::Sub"]) == {"token": "REPLACE_ME"}
    assert default_stack.outputs["TokenSecretArnOut"]["Value"] == {"Ref": "TokenSecret"}
    assert secret_statement(default_stack)["Resource"] == {"Ref": "TokenSecret"}


def test_existing_secret_is_used_when_an_arn_is_given(custom_stack: Stack) -> None:
    """Given TokenSecretArn, then no secret is created and the policy and output name that ARN."""
    assert custom_stack.of_type("AWS::SecretsManager::Secret") == {}
    assert custom_stack.outputs["TokenSecretArnOut"]["Value"] == SECRET_ARN
    assert secret_statement(custom_stack)["Resource"] == SECRET_ARN


def secret_statement(stack: Stack) -> dict[str, Any]:
    """The only IAM statement of the function's role that mentions Secrets Manager."""
    role = stack.props(f"{FUNCTION}Role")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    (statement,) = [s for s in statements if "secretsmanager" in json.dumps(s["Action"])]
    return statement


@pytest.mark.parametrize("which", ["default_stack", "custom_stack"])
def test_role_reads_exactly_one_secret(which: str, request: pytest.FixtureRequest) -> None:
    """Given either secret choice, then the role may only GetSecretValue on that one secret: no
    wildcard anywhere in its inline policies, and no managed policy beyond logs and X-Ray."""
    stack: Stack = request.getfixturevalue(which)
    role = stack.props(f"{FUNCTION}Role")
    statement = secret_statement(stack)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] in ("secretsmanager:GetSecretValue", ["secretsmanager:GetSecretValue"])
    resource = statement["Resource"]
    assert not isinstance(resource, list) or len(resource) == 1
    assert "*" not in json.dumps(role["Policies"])
    assert sorted(arn.rsplit("/", 1)[1] for arn in role["ManagedPolicyArns"]) == [
        "AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
    ]


def test_log_group_is_the_functions_with_retention(default_stack: Stack, custom_stack: Stack) -> None:
    """Given LogRetentionDays (30 by default), then the function logs to /aws/lambda/<its name>,
    a group the stack owns with that retention."""
    fn = default_stack.props(FUNCTION)
    group = default_stack.props("LumaVideoLogGroup")
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{fn['FunctionName']['Fn::Sub']}"}
    assert group["RetentionInDays"] == "30"
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": "LumaVideoLogGroup"}
    assert custom_stack.props("LumaVideoLogGroup")["RetentionInDays"] == "14"


def test_outputs_give_urls_function_and_secret(default_stack: Stack) -> None:
    """Given a deployed stack, then its outputs give the API URL, an example download URL, the
    function ARN (for Step Functions / lambda:Invoke) and the secret in use."""
    outputs = {name: out["Value"] for name, out in default_stack.outputs.items()}
    assert set(outputs) == {"ApiUrl", "ExampleUrl", "FunctionArn", "TokenSecretArnOut"}
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
    assert params["ApiAuth"]["AllowedValues"] == ["NONE", "AWS_IAM"]
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
    }
