"""The chat world most staff tests share; a file with other staff defines its own ``world``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models import StaffRole
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import World
from tests.helpers.telegram import staff_world


@pytest.fixture
async def world(db, settings) -> AsyncIterator[World]:
    """The bot with a cashier (Mary) besides the bootstrap admin."""
    async with staff_world(settings, (CASHIER_ID, StaffRole.CASHIER, "Mary")) as world:
        yield world
