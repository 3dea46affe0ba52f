"""The archive worker: ``python -m bench.archive`` (started first by bench.run, its job on stdin).

1. Memory: the handler, with the archive on, takes one SQS job for a big video (300 MB by default)
   and streams it from the simulator into the embedded S3; peak RSS is read right after.
2. Throughput, interleaved: ``runs`` rounds, each archiving a smaller video once through the handler
   (a distinct task per run, so every run really copies) and once as the floor: one plain pooled
   urllib3 GET of the whole file into memory, then one PutObject of those bytes. The floor comes
   second in odd rounds and first in even ones. Each copy is deleted after its run.

Prints one JSON line. Like bench.rss, this child is started while bench.run is still small: Linux
folds a spawner's peak RSS into its child's ``ru_maxrss``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.common import null_sink
from bench.rss import peak_rss_mb, vm_hwm_mb
from bench.warm import Context

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-archive-jobs"


def job_event(task_id: str, number: int) -> dict[str, Any]:
    from local.sqs_poller import sqs_event  # noqa: PLC0415

    message = {
        "MessageId": f"bench-{number}",
        "ReceiptHandle": "bench",
        "Body": json.dumps({"task_id": task_id}),
    }
    return sqs_event([message], QUEUE_ARN)


def main() -> int:
    at_start = peak_rss_mb()
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the parent gave up before the archive phase
    job = json.loads(line)
    os.environ.update(job["env"])
    real_stdout = sys.stdout
    sys.stdout = null_sink()
    import handler  # noqa: PLC0415

    after_import = peak_rss_mb()
    bucket = job["env"]["ARCHIVE_BUCKET"]
    s3 = handler.archive_aws.s3

    def archive(task_id: str, number: int) -> float:
        started = time.perf_counter()
        answer = handler.lambda_handler(job_event(task_id, number), Context(number, timeout_seconds=300))
        elapsed = time.perf_counter() - started
        if answer != {"batchItemFailures": []}:
            raise RuntimeError(f"the archive job for {task_id} failed: {answer}")
        return elapsed

    big_seconds = archive(job["big_task"], 0)
    peak_while_archiving, hwm_while_archiving = peak_rss_mb(), vm_hwm_mb()
    big_size = int(s3.head_object(Bucket=bucket, Key=f"luma/{job['big_task']}.mp4")["ContentLength"])
    s3.delete_object(Bucket=bucket, Key=f"luma/{job['big_task']}.mp4")

    import urllib3  # noqa: PLC0415

    pool = urllib3.PoolManager()

    def floor(url: str, number: int) -> float:
        started = time.perf_counter()
        body = pool.request("GET", url, preload_content=True).data
        s3.put_object(Bucket=bucket, Key=f"floor/{number}.mp4", Body=body, ContentType="video/mp4")
        elapsed = time.perf_counter() - started
        if len(body) != job["size"]:
            raise RuntimeError(f"the floor read {len(body)} of {job['size']} bytes")
        s3.delete_object(Bucket=bucket, Key=f"floor/{number}.mp4")
        return elapsed

    ours: list[float] = []
    floors: list[float] = []
    deadline = time.monotonic() + float(job["max_seconds"])
    for number, (task_id, url) in enumerate(zip(job["tasks"], job["floor_urls"], strict=True), start=1):
        if time.monotonic() > deadline:
            break
        if number % 2:
            ours.append(archive(task_id, number))
            floors.append(floor(url, number))
        else:
            floors.append(floor(url, number))
            ours.append(archive(task_id, number))
        s3.delete_object(Bucket=bucket, Key=f"luma/{task_id}.mp4")
    sys.stdout = real_stdout
    print(
        json.dumps(
            {
                "rss_at_start_mb": at_start,
                "rss_after_import_mb": after_import,
                "big_bytes": big_size,
                "big_seconds": big_seconds,
                "peak_rss_mb": peak_while_archiving,
                "vm_hwm_mb": hwm_while_archiving,
                "size": job["size"],
                "ours_seconds": ours,
                "floor_seconds": floors,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
