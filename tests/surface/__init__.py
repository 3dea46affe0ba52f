"""Shared parts of the whole-surface suites (tests/fuzz, tests/contract, tests/load); the leak-watch proof."""
