"""The hand-written peer: the Lambda a user would write from the aggregator's doc in an hour.

Reasonable, not strawmanned: the boto3 client is built once per container, the task id is checked
and quoted, timeouts are set, upstream errors are mapped, and one JSON line is printed per request.
What an hour does not buy: the secret is read on every call (no cache), every call opens a new
connection (``urllib.request``), and nothing remembers a link it has already fetched.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import boto3

UPSTREAM_BASE_URL = os.environ["UPSTREAM_BASE_URL"].rstrip("/")
TOKEN_SECRET_ID = os.environ["TOKEN_SECRET_ID"]
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

secrets = boto3.client("secretsmanager")


def _answer(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": message}),
    }


def _token() -> str:
    secret = secrets.get_secret_value(SecretId=TOKEN_SECRET_ID)["SecretString"]
    return str(json.loads(secret)["token"]) if secret.lstrip().startswith("{") else secret.strip()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task_id = (event.get("pathParameters") or {}).get("task_id", "")
    if not TASK_ID.fullmatch(task_id):
        return _answer(400, "bad task id")
    request = urllib.request.Request(
        f"{UPSTREAM_BASE_URL}/luma/generations/{urllib.parse.quote(task_id)}/download_video_url",
        headers={"Authorization": f"Bearer {_token()}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            document = json.load(response)
    except urllib.error.HTTPError as exc:
        status = exc.code if exc.code in (400, 404, 429) else 502
        return _answer(409 if status == 400 else status, f"upstream answered {exc.code}")
    except (urllib.error.URLError, TimeoutError):
        return _answer(503, "upstream unreachable")
    url = document.get("url") if isinstance(document, dict) else None
    if not isinstance(url, str) or not url.startswith("https://"):
        return _answer(502, "upstream gave no usable url")
    print(json.dumps({"task_id": task_id, "status": 302}))
    return {"statusCode": 302, "headers": {"Location": url}, "body": ""}
