"""The archive: the copies in the deployer's S3 (store), the request path's archive-first lookup,
archiving one task (copying), its SQS jobs and the worker that consumes them.

May import: the top, and ``luma_download.aggregator.transport`` (the video is streamed in through
the same bounded transport). Nothing else of ``aggregator``, nothing of ``front_doors``: the handler
hands the archive its link getter.
"""
