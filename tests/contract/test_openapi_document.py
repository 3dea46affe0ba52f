"""docs/openapi.json is generated from the routes, is current, covers the README's HTTP contract,
and building it costs the function nothing: pydantic never enters its cold path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from tests.conftest import EVENTS_DIR
from tools.openapi import DOCUMENT, render

REPO: Final = Path(__file__).resolve().parents[2]
README: Final = REPO / "README.md"
OPERATION: Final = "/luma/generations/{task_id}/download_video_url"


def contract_table() -> list[tuple[int, str, bool]]:
    """(status, error.code, has Retry-After) for each pair in the README's HTTP contract table."""
    section = README.read_text().split("## HTTP contract", 1)[1].split("\n## ", 1)[0]
    pairs: list[tuple[int, str, bool]] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1][:3].isdigit():
            continue  # not a row of the table, or its header
        statuses, codes = cells[1].split(" / "), cells[2].split(" / ")
        if len(statuses) == 1:
            statuses *= len(codes)  # "400 | `invalid_task_id` / `invalid_request`"
        for status_text, code in zip(statuses, codes, strict=True):
            (name,) = re.findall(r"`([a-z_]+)`", code)
            pairs.append((int(status_text[:3]), name, "Retry-After" in status_text))
    return pairs


def test_the_committed_document_is_the_one_the_routes_give(handler_module: ModuleType) -> None:
    fresh = render(handler_module.service.resolvers["http_api"])

    assert fresh == DOCUMENT.read_text(), "docs/openapi.json is stale: run .venv/bin/python -m tools.openapi"


def test_every_front_door_has_the_documented_route(handler_module: ModuleType) -> None:
    documents = {door: render(resolver) for door, resolver in handler_module.service.resolvers.items()}

    assert set(documents) == {"http_api", "rest_api", "function_url"}
    assert len(set(documents.values())) == 1


def test_the_document_covers_every_row_of_the_readme_contract() -> None:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    item = document["paths"][OPERATION]
    pairs = contract_table()
    assert len(pairs) >= 12, pairs  # the table was read

    assert set(item) == {"get", "head"}
    for status, code, retry_after in pairs:
        if code == "not_found":
            continue  # an unknown path: no route, so no operation to document it under
        if status == 405:
            response = document["components"]["responses"]["MethodNotAllowed"]
            assert response["headers"]["Allow"]["required"] is True
        else:
            response = item["get"]["responses"][str(status)]
            assert item["head"]["responses"][str(status)]["headers"] == response["headers"]
            assert "content" not in item["head"]["responses"][str(status)]
        schema = response["content"]["application/json"]["schema"]
        assert code in schema["properties"]["error"]["properties"]["code"]["enum"], (status, code)
        assert schema["properties"]["error"]["required"] == ["code", "message", "request_id"]
        assert response["headers"]["Cache-Control"]["required"] is True
        assert ("Retry-After" in response["headers"]) == retry_after, (status, code)


def test_success_answers_document_their_headers_and_body() -> None:
    responses = json.loads(DOCUMENT.read_text())["paths"][OPERATION]["get"]["responses"]

    assert set(responses["302"]["headers"]) == {"Location", "Cache-Control", "Vary"}
    assert all(header["required"] for header in responses["302"]["headers"].values())
    assert set(responses["200"]["headers"]) == {"Cache-Control", "Vary"}
    link = responses["200"]["content"]["application/json"]["schema"]
    assert link["required"] == ["task_id", "url", "expires_at", "source"]
    assert link["properties"]["source"]["enum"] == ["aggregator", "archive"]
    parameters = json.loads(DOCUMENT.read_text())["paths"][OPERATION]["get"]["parameters"]
    task_id = next(p for p in parameters if p["name"] == "task_id")
    assert task_id["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
    assert {p["name"] for p in parameters} == {"task_id", "format", "Accept"}


def test_the_script_checks_the_committed_document() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "tools.openapi", "--check"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UPSTREAM_", "TOKEN_"))},
    )

    assert finished.returncode == 0, finished.stderr


COLD_PATH = """
import json, sys
sys.path[:0] = ["src", "."]
import handler
from local.lambda_context import LocalLambdaContext
for name in ("http_api_get.json", "bad_task_id_http_api.json", "http_api_post.json"):
    event = json.loads(open(f"{events}/" + name).read())
    print(handler.lambda_handler(event, LocalLambdaContext())["statusCode"], file=sys.stderr)
def pydantic_modules():
    return sorted(m for m in sys.modules if m.split(".")[0] == "pydantic")
print(json.dumps(pydantic_modules()))
# The same check sees pydantic once something does import it: building the document does.
handler.service.resolvers["http_api"].get_openapi_json_schema()
print(json.dumps(pydantic_modules()))
"""


def test_pydantic_stays_off_the_cold_path() -> None:
    # Given a fresh interpreter that imports the function and answers three requests
    # (misconfigured here, so every one ends in the resolvers' error handlers: a 500, a 400, a 405)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    finished = subprocess.run(
        [sys.executable, "-c", COLD_PATH.replace("{events}", str(EVENTS_DIR))],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )

    # Then the routes answered, and not one pydantic module was imported until the document was built
    assert finished.returncode == 0, finished.stderr
    assert [line for line in finished.stderr.splitlines() if line.isdigit()] == ["500", "400", "405"]
    during_requests, after_building = (json.loads(line) for line in finished.stdout.splitlines()[-2:])
    assert during_requests == []
    assert "pydantic" in after_building
