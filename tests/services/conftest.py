"""Fixtures the payment service tests share: a FakeDaraja, a hand-moved clock, a notifier."""

from __future__ import annotations

import pytest

from bot.notify.notifier import Notifier
from tests.helpers.clock import Clock
from tests.helpers.fakes import FakeDaraja


@pytest.fixture
def daraja() -> FakeDaraja:
    return FakeDaraja()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notifier() -> Notifier:
    """A notifier whose alerts go to admin 1001."""
    return Notifier(business_name="Household Planet Kenya", admin_telegram_ids=[1001])
