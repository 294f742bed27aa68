"""Browser-test fixtures: the real service on loopback (tests/helpers/live.py)."""

from tests.helpers.live import start_live

__all__ = ["start_live"]
