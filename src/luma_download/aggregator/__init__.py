"""The aggregator: its client (the two calls, 401/403 re-read), protocol (paths, task states,
refusals), token (Secrets Manager), and the transport under them (the bounded pooled GET, the
deadline-bounded socket, retries), plus the cleaning of text it sends.

May import: the top (``luma_download``'s own modules). Nothing of ``archive`` or ``front_doors``.
"""
