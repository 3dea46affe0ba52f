"""Local stand-ins for the real parts: the aggregator simulator, embedded AWS, the local API server."""
