"""A dashboard on the real web app and services (FakeDaraja), and a way to sign in to it."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from bot.notify.channels import RecordingChatChannel
from bot.services.container import build_services
from bot.web.app import create_app
from models import StaffRole
from tests.helpers.fakes import FakeDaraja

ADMIN, ADMIN2, CASHIER = 1001, 1002, 2002
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
async def dash(db, aiohttp_client, settings):
    settings = settings.model_copy(update={"public_base_url": "http://127.0.0.1:8080"})
    services = build_services(
        settings, daraja=FakeDaraja(), channels={"chat": RecordingChatChannel()}
    )
    await services.staff.bootstrap_admins()
    await services.staff.add_as_operator(CASHIER, StaffRole.CASHIER, "Brian")
    client = await aiohttp_client(create_app(services, settings=settings))

    async def sign_in(telegram_id: int = ADMIN, *, on=None):
        """Open a fresh link for ``telegram_id`` and press Sign in; the client is then signed in."""
        browser = on or client
        token = await services.dashboard.issue_link(telegram_id)
        page = await browser.get(f"/dashboard/login/{token}")
        assert page.status == 200
        answer = await browser.post(
            f"/dashboard/login/{token}",
            data={"csrf_token": csrf_of(await page.text())},
            allow_redirects=False,
        )
        assert answer.status == 303
        return token

    return SimpleNamespace(client=client, services=services, settings=settings, sign_in=sign_in)
