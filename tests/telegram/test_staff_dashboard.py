"""/dashboard in the chat: a one-time sign-in link for staff, nothing for anyone else."""

from __future__ import annotations

import re

from bot.services.staff import REFUSAL
from bot.telegram import staff_texts
from bot.telegram import texts
from models import AuditEvent
from models import DashboardLink
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import World
from tests.helpers.telegram import staff_world

STRANGER_ID = 4242
LINK = re.compile(r"https://pay\.example\.co\.ke/dashboard/login/([A-Za-z0-9_-]{40,})")


async def test_a_cashier_gets_a_personal_link_without_a_preview(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/dashboard")
    [text] = world.h.texts(calls)
    token = LINK.search(text).group(1)
    assert "works once, for 10 minutes" in text
    sent = next(c for c in calls if c.method == "sendMessage")
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    preview = await world.services.dashboard.preview(token)
    assert preview.staff.telegram_id == CASHIER_ID
    assert await DashboardLink.all().count() == 1


async def test_two_requests_give_two_different_links(world: World) -> None:
    first = world.h.texts(await world.h.send(ADMIN_ID, "/dashboard"))[0]
    second = world.h.texts(await world.h.send(ADMIN_ID, "/dashboard"))[0]
    assert LINK.search(first).group(1) != LINK.search(second).group(1)


async def test_someone_not_on_the_staff_gets_the_neutral_refusal(world: World) -> None:
    calls = await world.h.send(STRANGER_ID, "/dashboard")
    assert world.h.texts(calls) == [texts.refusal(REFUSAL)]
    assert await DashboardLink.all().count() == 0
    assert await AuditEvent.filter(action="access.refused", actor=f"tg:{STRANGER_ID}").exists()


async def test_dashboard_off_says_so(db, settings) -> None:
    settings = settings.model_copy(update={"dashboard_enabled": False})
    async with staff_world(settings) as world:
        calls = await world.h.send(ADMIN_ID, "/dashboard")
    assert world.h.texts(calls) == [texts.refusal(staff_texts.DASHBOARD_OFF)]
