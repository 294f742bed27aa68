"""The staff page changes a person's Telegram command menu at once, as /staff does in the chat."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import httpx
import pytest

from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.telegram import menus
from bot.telegram.app import build_offline_application
from bot.telegram.transport import ApiCall
from bot.telegram.transport import InProcessBotApi
from bot.web.app import create_app
from models import Staff
from models import StaffRole
from mpesa.simulator import SimulatorConfig
from tests.helpers.fakes import FakeDaraja
from tests.helpers.live import live_service
from tests.helpers.live import live_settings
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of

NEW_ID = 3003
ADMIN_MENU = [c.command for c in menus.ADMIN_COMMANDS]
CASHIER_MENU = [c.command for c in menus.CASHIER_COMMANDS]


def menu_calls(calls: list[ApiCall]) -> list[tuple[str, int, list[str] | None]]:
    """The per-chat menu calls: (method, chat id, the commands set or None when deleted)."""
    return [
        (
            c.method,
            c.params["scope"]["chat_id"],
            [cmd["command"] for cmd in c.params["commands"]] if "commands" in c.params else None,
        )
        for c in calls
        if c.method in ("setMyCommands", "deleteMyCommands")
        and c.params.get("scope", {}).get("type") == "chat"
    ]


@pytest.fixture
async def bot_dash(db, aiohttp_client, settings):
    """The dashboard wired to the real bot on the offline Bot API, as bot/main.py wires it."""
    settings = settings.model_copy(update={"public_base_url": "http://127.0.0.1:8080"})
    services = build_services(
        settings, daraja=FakeDaraja(), channels={"chat": RecordingChatChannel()}
    )
    await services.staff.bootstrap_admins()
    await services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
    api = InProcessBotApi()
    ptb = build_offline_application(settings, services, api)
    await ptb.initialize()
    hook = functools.partial(menus.update_menu, ptb.bot)
    ns = SimpleNamespace(api=api, services=services, hook=hook, settings=settings)
    ns.client = await aiohttp_client(create_app(services, settings=settings, on_staff_change=hook))
    try:
        yield ns
    finally:
        await ptb.shutdown()


async def sign_in(client, services, telegram_id: int = ADMIN) -> None:
    token = await services.dashboard.issue_link(telegram_id)
    page = await client.get(f"/dashboard/login/{token}")
    answer = await client.post(
        f"/dashboard/login/{token}",
        data={"csrf_token": csrf_of(await page.text())},
        allow_redirects=False,
    )
    assert answer.status == 303


async def post(client, path: str, **data: str):
    page = await client.get("/dashboard/staff")
    assert page.status == 200
    token = csrf_of(await page.text())
    return await client.post(path, data={"csrf_token": token, **data}, allow_redirects=False)


async def test_a_role_change_on_the_staff_page_changes_the_menu_at_once(bot_dash) -> None:
    await sign_in(bot_dash.client, bot_dash.services)
    bot_dash.api.calls.clear()

    to_admin = await post(bot_dash.client, f"/dashboard/staff/{CASHIER}/role", role="admin")
    as_admin = menu_calls(bot_dash.api.calls)
    bot_dash.api.calls.clear()
    back = await post(bot_dash.client, f"/dashboard/staff/{CASHIER}/role", role="cashier")
    as_cashier = menu_calls(bot_dash.api.calls)

    assert (to_admin.status, back.status) == (303, 303)
    # only the changed person's chat is touched
    assert as_admin == [("setMyCommands", CASHIER, ADMIN_MENU)]
    assert as_cashier == [("setMyCommands", CASHIER, CASHIER_MENU)]


async def test_adding_and_removing_on_the_staff_page_gives_and_takes_the_menu(bot_dash) -> None:
    await sign_in(bot_dash.client, bot_dash.services)
    bot_dash.api.calls.clear()

    added = await post(
        bot_dash.client, "/dashboard/staff/add", telegram_id=str(NEW_ID), role="admin", name="Jo"
    )
    on_add = menu_calls(bot_dash.api.calls)
    bot_dash.api.calls.clear()
    limited = await post(bot_dash.client, f"/dashboard/staff/{NEW_ID}/limit", limit="5000")
    on_limit = menu_calls(bot_dash.api.calls)
    removed = await post(bot_dash.client, f"/dashboard/staff/{NEW_ID}/remove")
    on_remove = menu_calls(bot_dash.api.calls)

    assert [a.status for a in (added, limited, removed)] == [303] * 3
    assert on_add == [("setMyCommands", NEW_ID, ADMIN_MENU)]
    assert on_limit == []  # a limit is no change of menu
    assert on_remove == [("deleteMyCommands", NEW_ID, None)]


async def test_a_refused_change_publishes_no_menu(bot_dash) -> None:
    await sign_in(bot_dash.client, bot_dash.services)
    bot_dash.api.calls.clear()

    refused = await post(bot_dash.client, f"/dashboard/staff/{ADMIN}/remove")

    assert refused.status == 409
    assert menu_calls(bot_dash.api.calls) == []


async def test_a_menu_that_cannot_be_published_does_not_undo_the_role_change(
    db, aiohttp_client, settings, caplog
) -> None:
    settings = settings.model_copy(update={"public_base_url": "http://127.0.0.1:8080"})
    services = build_services(
        settings, daraja=FakeDaraja(), channels={"chat": RecordingChatChannel()}
    )
    await services.staff.bootstrap_admins()
    await services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
    asked: list[int] = []

    async def broken(member: Staff) -> None:
        asked.append(member.telegram_id)
        raise RuntimeError("Telegram is unreachable")

    client = await aiohttp_client(create_app(services, settings=settings, on_staff_change=broken))
    await sign_in(client, services)

    answer = await post(client, f"/dashboard/staff/{CASHIER}/role", role="admin")

    assert answer.status == 303
    assert answer.headers["Location"] == "/dashboard/staff?done=role"
    assert asked == [CASHIER]
    assert (await Staff.get(telegram_id=CASHIER)).role == StaffRole.ADMIN
    assert f"dashboard.menu_failed staff={CASHIER}" in caplog.text


async def test_the_running_service_wires_the_staff_page_to_the_chat_menus(
    tmp_path, simulators
) -> None:
    simulator = await simulators(SimulatorConfig())
    settings = live_settings(tmp_path, simulator.url, admin_telegram_ids=[ADMIN])
    async with live_service(settings) as service:
        await service.services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
        token = await service.services.dashboard.issue_link(ADMIN)
        async with httpx.AsyncClient(base_url=service.url) as http:
            page = await http.get(f"/dashboard/login/{token}")
            signed = await http.post(
                f"/dashboard/login/{token}", data={"csrf_token": csrf_of(page.text)}
            )
            staff_page = await http.get("/dashboard/staff")
            service.api.calls.clear()
            changed = await http.post(
                f"/dashboard/staff/{CASHIER}/role",
                data={"csrf_token": csrf_of(staff_page.text), "role": "admin"},
            )
        calls = menu_calls(service.api.calls)

    assert (signed.status_code, changed.status_code) == (303, 303)
    assert calls == [("setMyCommands", CASHIER, ADMIN_MENU)]
