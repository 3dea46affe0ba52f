"""Operator tools run with the project's .venv (``make smoke``)."""
