"""The front doors: which door an event came through (event_shapes), the HTTP route and its
contract (http_api, http_contract), direct invoke from workflows (direct_invoke) and its batches.

May import: the top only. The work behind each door (a link getter, an archiver) is handed in by
the handler, so no door knows the aggregator or the archive.
"""
