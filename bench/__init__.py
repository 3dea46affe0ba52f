"""``make bench``: our handler beside a raw pooled GET (the floor) and a hand-written peer, in one run.

Entry point: ``python -m bench.run`` (see ``bench/run.py`` for the method). Children:
``bench.warm`` (interleaved warm latencies), ``bench/cold.py`` (one cold start, run as a script),
``bench.rss`` (peak RSS after many distinct ids), ``bench.archive`` (the archive worker),
``bench.links`` (handing out an archive link: S3 presign, CloudFront ECDSA and RSA).
``bench.peer_handler`` is the peer. The figures (``bench.figures``) are written as tables
(``bench.table``) and a plot (``bench.plot``).
"""
