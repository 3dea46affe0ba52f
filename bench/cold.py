"""One cold start, measured inside a fresh process: ``python bench/cold.py ours|floor EVENT.json OUT``.

The clock starts on the first line, before any import, so the figure is the container's init (the
imports and the module-scope clients) plus the first invocation. It writes one JSON line to OUT:
``{"import_s", "first_call_s", "cold_s", "status"}``: init (first line to handler ready), first call,
and their sum. Started by ``bench.run`` with the function's environment (which decides where
``handler`` is imported from: src/, or the layout ``make build`` ships); the interpreter's own
start-up comes before the first line and is the same for all. Both kinds do the same things around
the function: read the event file, write to the process's stdout (a pipe the parent drains) through
the runtime's unbuffered wrapper, and nothing else.

- ``ours``: ``import handler`` (which builds the pool, the Secrets Manager client, the service),
  then ``handler.lambda_handler(event)``: a cache miss that reads the secret and asks the simulator.
- ``floor``: the cold floor the target was set against: import boto3, urllib3 and Logger, Metrics
  and the HTTP resolver (no X-Ray), build the Secrets Manager client and a pool, then read the
  secret once and make one pooled GET.
"""

import time

T0 = time.perf_counter()


class _Context:
    function_name = "luma-download"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luma-download"
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/luma-download"
    log_stream_name = "bench-cold"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def ours(event_path: str) -> tuple[float, float, int]:
    """Returns the clock when the init ended, when the first call ended, and its status."""
    import json  # noqa: PLC0415

    with open(event_path) as source:  # noqa: PTH123 (pathlib is not imported on purpose)
        event = json.load(source)
    import handler  # noqa: PLC0415

    imported = time.perf_counter()
    response = handler.lambda_handler(event, _Context())
    return imported, time.perf_counter(), int(response["statusCode"])


def floor(event_path: str) -> tuple[float, float, int]:
    import json  # noqa: PLC0415
    import os  # noqa: PLC0415

    with open(event_path) as source:  # noqa: PTH123
        task_id = json.load(source)["pathParameters"]["task_id"]
    import boto3  # noqa: PLC0415
    import urllib3  # noqa: PLC0415
    from aws_lambda_powertools import Logger, Metrics  # noqa: F401, PLC0415
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver  # noqa: F401, PLC0415

    client = boto3.client("secretsmanager")
    pool = urllib3.PoolManager()
    imported = time.perf_counter()
    secret = client.get_secret_value(SecretId=os.environ["TOKEN_SECRET_ID"])["SecretString"]
    token = json.loads(secret)["token"]
    response = pool.request(
        "GET",
        f"{os.environ['UPSTREAM_BASE_URL']}/luma/generations/{task_id}/download_video_url",
        headers={"Authorization": f"Bearer {token}"},
    )
    return imported, time.perf_counter(), response.status


def main() -> int:
    import json  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from bench.unbuffered import Unbuffered  # noqa: PLC0415

    kind, event_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.stdout = Unbuffered(sys.stdout)
    imported, called, status = (ours if kind == "ours" else floor)(event_path)
    result = {
        "kind": kind,
        "import_s": imported - T0,
        "first_call_s": called - imported,
        "cold_s": called - T0,
        "status": status,
    }
    with open(out_path, "w") as out:  # noqa: PTH123
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
