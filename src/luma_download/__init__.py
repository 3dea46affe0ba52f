"""luma_download: a Luma task id in, the watermark-free MP4's link out.

This package's own modules are the shared vocabulary every wing speaks: the model, the errors, the
settings, the task id and URL rules, the request record, telemetry, the link cache, off-thread calls.
They import the standard library, Powertools and botocore types, never a wing.

The wings (subpackages), each importing only the top and what its own docstring names:

- ``aggregator``: the aggregator's client, protocol, token and transport.
- ``archive``: the copies in S3, the request path's archive-first lookup, the worker.
- ``front_doors``: which door an event came through, the HTTP routes, direct invoke and batches.

``src/handler.py`` is the one place that wires them; ``tools/import_rules.py`` checks the rule.
"""
