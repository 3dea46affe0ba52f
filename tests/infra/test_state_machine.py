"""The optional state machine: in the template only when asked, lint-clean, its definition valid ASL
(``asl-validator`` from npm) once CloudFormation's substitutions are made, matching the error contract,
and a role that may invoke this function and nothing else. Its executions: test_state_machine_runs."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from luma_download import errors
from tests.asl import STATE_MACHINE, asl_validator, placeholders, substitute, template_substitutions
from tests.infra.test_template import (  # offline_aws: the translator's region, no real AWS config
    FUNCTION,
    REQUIRED,
    Stack,
    _lint,
    default_stack,  # noqa: F401 (a fixture)
    offline_aws,  # noqa: F401
    sam_template,
    sam_transform,
)

ENABLED: Final = {
    **REQUIRED,
    "StateMachine": "Enabled",
    "VideoPollIntervalSeconds": "20",
    "VideoPollBackoffRate": "1.5",
    "VideoPollMaxDelaySeconds": "300",
    "VideoPollMaxAttempts": "60",
}
ROLE: Final = "GetVideoStateMachineRole"
FUNCTION_ARN: Final = {"Fn::GetAtt": [FUNCTION, "Arn"]}


@pytest.fixture(scope="module")
def enabled_stack() -> Stack:
    return Stack(sam_transform(ENABLED), ENABLED)


def test_the_state_machine_exists_only_when_asked(default_stack: Stack, enabled_stack: Stack) -> None:  # noqa: F811
    assert default_stack.of_type("AWS::StepFunctions::StateMachine") == {}
    assert ROLE not in default_stack.resources
    assert "StateMachineArn" not in default_stack.outputs
    assert set(enabled_stack.of_type("AWS::StepFunctions::StateMachine")) == {STATE_MACHINE}
    assert enabled_stack.outputs["StateMachineArn"]["Value"] == {"Ref": STATE_MACHINE}


def test_the_template_with_the_state_machine_is_cfn_lint_clean() -> None:
    assert _lint(json.dumps(sam_transform(ENABLED))) == []


def test_the_definition_is_the_file_with_substitutions_from_the_parameters(enabled_stack: Stack) -> None:
    props = enabled_stack.props(STATE_MACHINE)
    assert props["StateMachineType"] == "STANDARD"
    assert set(props["DefinitionS3Location"]) == {"Bucket", "Key"}  # the uploaded ASL file
    assert props["RoleArn"] == {"Fn::GetAtt": [ROLE, "Arn"]}
    assert props["DefinitionSubstitutions"] == {
        "LumaVideoFunctionArn": FUNCTION_ARN,
        # the archive (on by default) is the worker's job
        "ArchiveFunctionArn": {"Fn::GetAtt": ["ArchiveWorkerFunction", "Arn"]},
        "VideoPollIntervalSeconds": "20",
        "VideoPollBackoffRate": "1.5",
        "VideoPollMaxDelaySeconds": "300",
        "VideoPollMaxAttempts": "60",
        "ArchiveEnabled": "true",
    }
    # Every placeholder in the file has a substitution and every substitution a placeholder
    assert placeholders() == set(props["DefinitionSubstitutions"])


def test_its_role_may_invoke_this_function_and_nothing_else(enabled_stack: Stack) -> None:
    role = enabled_stack.props(ROLE)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "lambda:InvokeFunction"
    # the function itself, and its versions and aliases ("<arn>:<qualifier>"); no wildcard on the name
    assert statement["Resource"] == [
        FUNCTION_ARN,
        {"Fn::Sub": f"${{{FUNCTION}.Arn}}:*"},
        {"Fn::GetAtt": ["ArchiveWorkerFunction", "Arn"]},
        {"Fn::Sub": "${ArchiveWorkerFunction.Arn}:*"},
    ]
    # and no other policy is attached to it anywhere in the stack
    attached = [
        r
        for r in enabled_stack.of_type("AWS::IAM::Policy").values()
        if {"Ref": ROLE} in r["Properties"]["Roles"]
    ]
    assert attached == []


@pytest.mark.parametrize("archive", ["false", "true"])
def test_the_substituted_definition_is_valid_asl(archive: str) -> None:
    result = asl_validator(substitute(template_substitutions(ArchiveEnabled=archive)))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_the_asl_validator_sees_a_broken_definition() -> None:
    definition = substitute(template_substitutions())
    del definition["States"]["GenerationFailed"]  # a Catch now leads nowhere

    result = asl_validator(definition)

    assert result.returncode != 0
    assert "GenerationFailed" in result.stdout + result.stderr


def error_names(definition: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for state in definition["States"].values():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            names |= set(rule["ErrorEquals"])
        if state["Type"] == "Fail":
            names.add(state["Error"])
    return names


def contract_names() -> set[str]:
    found, todo = set(), list(errors.LumaDownloadError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return found


def test_every_error_it_matches_is_in_the_error_contract() -> None:
    definition = substitute(template_substitutions())
    ours = {name for name in error_names(definition) if not name.startswith(("States.", "Lambda."))}
    assert ours <= contract_names()
    assert {"VideoNotReadyError", "TaskFailedError", "TaskNotFoundError"} <= ours


def test_waiting_for_the_video_follows_the_poll_parameters_and_failures_end_clearly() -> None:
    definition = substitute(template_substitutions(VideoPollIntervalSeconds=7, VideoPollMaxAttempts=9))
    get = definition["States"]["GetVideoLink"]
    (poll,) = [rule for rule in get["Retry"] if rule["ErrorEquals"] == ["VideoNotReadyError"]]
    assert (poll["IntervalSeconds"], poll["MaxAttempts"], poll["BackoffRate"]) == (7, 9, 1.2)
    (transient,) = [rule for rule in get["Retry"] if "UpstreamUnavailableError" in rule["ErrorEquals"]]
    assert transient["JitterStrategy"] == "FULL"
    catches = {name: rule["Next"] for rule in get["Catch"] for name in rule["ErrorEquals"]}
    for error, state in [("TaskFailedError", "GenerationFailed"), ("TaskNotFoundError", "TaskNotFound")]:
        assert catches[error] == state
        assert definition["States"][state] == {**definition["States"][state], "Type": "Fail", "Error": error}
    archive = definition["States"]["ArchiveVideo"]
    assert archive["Parameters"]["Payload"] == {"task_id.$": "$.task_id", "archive": True}
    assert archive["OutputPath"] == "$.Payload"


def test_the_default_poll_waits_for_generations_of_many_minutes() -> None:
    """With the defaults, a video may take over an hour before the execution gives up."""
    params = sam_template()["Parameters"]
    interval, rate = (
        float(params["VideoPollIntervalSeconds"]["Default"]),
        float(params["VideoPollBackoffRate"]["Default"]),
    )
    cap, attempts = (
        float(params["VideoPollMaxDelaySeconds"]["Default"]),
        int(params["VideoPollMaxAttempts"]["Default"]),
    )
    waited = sum(min(interval * rate**n, cap) for n in range(attempts))
    assert 60 * 60 <= waited <= 2 * 60 * 60, waited
