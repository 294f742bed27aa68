"""Signing in to the dashboard: one-time links, sessions, roles, CSRF and security headers."""

from __future__ import annotations

from datetime import timedelta

from models import AuditEvent
from models import DashboardLink
from models import DashboardSession
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of


async def test_a_link_signs_in_once_and_shows_the_overview(dash) -> None:
    token = await dash.sign_in(ADMIN)
    overview = await dash.client.get("/dashboard/")
    assert overview.status == 200
    assert "Overview" in await overview.text()

    again = await dash.client.get(f"/dashboard/login/{token}")
    assert again.status == 410
    assert "already used" in await again.text()
    # the token itself is not in the database, only its hash
    link = await DashboardLink.get()
    assert token not in link.token_hash and link.used_at is not None
    actions = await AuditEvent.filter(action="dashboard.sign_in").values_list("outcome", flat=True)
    assert list(actions) == ["ok"]


async def test_pressing_a_used_link_again_is_refused_and_audited(dash) -> None:
    token = await dash.sign_in(ADMIN)
    page = await dash.client.get("/dashboard/login")  # any page: this session's token
    replay = await dash.client.post(
        f"/dashboard/login/{token}", data={"csrf_token": csrf_of(await page.text())}
    )
    assert replay.status == 410
    refused = await AuditEvent.get(action="dashboard.sign_in", outcome="refused")
    assert refused.detail["reason"] == "used"


async def test_a_forged_link_is_refused(dash) -> None:
    answer = await dash.client.get("/dashboard/login/forged-token-0123456789")
    assert answer.status == 404
    assert "not valid" in await answer.text()


async def test_an_expired_link_is_refused(dash) -> None:
    token = await dash.services.dashboard.issue_link(ADMIN)
    link = await DashboardLink.get()
    await DashboardLink.filter(id=link.id).update(expires_at=link.created_at - timedelta(seconds=1))
    answer = await dash.client.get(f"/dashboard/login/{token}")
    assert answer.status == 410
    assert "expired" in await answer.text()


async def test_not_signed_in_is_sent_to_sign_in_through_the_bot(dash) -> None:
    answer = await dash.client.get("/dashboard/", allow_redirects=False)
    assert (answer.status, answer.headers["Location"]) == (303, "/dashboard/login")
    page = await dash.client.get("/dashboard/login")
    assert "/dashboard" in await page.text()


async def test_the_cookie_is_httponly_and_samesite_lax(dash) -> None:
    token = await dash.services.dashboard.issue_link(ADMIN)
    page = await dash.client.get(f"/dashboard/login/{token}")
    answer = await dash.client.post(
        f"/dashboard/login/{token}",
        data={"csrf_token": csrf_of(await page.text())},
        allow_redirects=False,
    )
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # served over plain http on loopback here


async def test_a_removed_staff_members_session_ends_at_once(dash) -> None:
    await dash.sign_in(CASHIER)
    assert (await dash.client.get("/dashboard/", allow_redirects=False)).status == 200
    await dash.services.staff.remove_as_operator(CASHIER)
    answer = await dash.client.get("/dashboard/", allow_redirects=False)
    assert answer.status == 303
    session = await DashboardSession.get()
    assert session.end_reason == "removed"


async def test_a_cashier_opening_an_admin_page_gets_403_and_no_data(dash) -> None:
    await dash.sign_in(CASHIER)
    answer = await dash.client.get("/dashboard/settings")
    assert answer.status == 403
    text = await answer.text()
    assert "Only an admin" in text and "callback" not in text.lower()
    assert await AuditEvent.filter(action="access.refused", actor=f"tg:{CASHIER}").exists()


async def test_a_post_without_the_csrf_token_is_refused(dash) -> None:
    await dash.sign_in(ADMIN)
    answer = await dash.client.post("/dashboard/logout", data={})
    assert answer.status == 403
    assert "not sent from a dashboard page" in await answer.text()
    assert (await dash.client.get("/dashboard/", allow_redirects=False)).status == 200
    assert await AuditEvent.filter(action="dashboard.refused", outcome="refused").exists()


async def test_a_post_from_another_site_is_refused_even_with_the_token(dash) -> None:
    await dash.sign_in(ADMIN)
    page = await dash.client.get("/dashboard/")
    answer = await dash.client.post(
        "/dashboard/logout",
        data={"csrf_token": csrf_of(await page.text())},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status == 403


async def test_sign_out_ends_the_session_in_the_database(dash) -> None:
    await dash.sign_in(ADMIN)
    page = await dash.client.get("/dashboard/")
    answer = await dash.client.post(
        "/dashboard/logout", data={"csrf_token": csrf_of(await page.text())}, allow_redirects=False
    )
    assert (answer.status, answer.headers["Location"]) == (303, "/dashboard/login?signed_out=1")
    assert (await dash.client.get("/dashboard/", allow_redirects=False)).status == 303
    assert (await DashboardSession.get()).end_reason == "signed_out"


async def test_an_idle_session_ends(dash) -> None:
    await dash.sign_in(ADMIN)
    idle = dash.settings.dashboard_idle_timeout_s + 1
    session = await DashboardSession.get()
    await DashboardSession.filter(id=session.id).update(
        last_seen_at=session.last_seen_at - timedelta(seconds=idle)
    )
    assert (await dash.client.get("/dashboard/", allow_redirects=False)).status == 303
    assert (await DashboardSession.get()).end_reason == "idle"


async def test_pages_carry_the_security_headers(dash) -> None:
    await dash.sign_in(ADMIN)
    answer = await dash.client.get("/dashboard/")
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    refused = await dash.client.get("/dashboard/login/forged-token-0123456789")
    assert refused.headers["X-Frame-Options"] == "DENY"


async def test_dashboard_off_is_not_mounted(db, aiohttp_client, settings) -> None:
    from bot.services.container import build_services
    from bot.web.app import create_app
    from tests.helpers.fakes import FakeDaraja

    settings = settings.model_copy(update={"dashboard_enabled": False})
    services = build_services(settings, daraja=FakeDaraja(), channels={})
    client = await aiohttp_client(create_app(services, settings=settings))
    assert (await client.get("/dashboard/login")).status == 404
