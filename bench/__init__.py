"""Benchmarks: callback ingest, bot updates, start-up and memory, token single flight."""
