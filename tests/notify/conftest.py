"""Fixtures the outbox tests share: a clock moved by hand."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tests.helpers.clock import Clock


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock just after the wall clock: the Notifier stamps rows with the real time."""
    return Clock(datetime.now(UTC) + timedelta(seconds=1))
