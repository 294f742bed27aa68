"""The settings page: admins see what to register with Safaricom; the check runs on request."""

from __future__ import annotations

from models import AuditEvent
from tests.web.dashboard.conftest import ADMIN


async def test_an_admin_sees_the_callback_urls_to_register(dash) -> None:
    await dash.sign_in(ADMIN)
    answer = await dash.client.get("/dashboard/settings")
    text = await answer.text()
    assert answer.status == 200
    secret = dash.settings.resolved_callback_secret()
    assert f"http://127.0.0.1:8080/hooks/{secret}/stk" in text
    assert f"http://127.0.0.1:8080/hooks/{secret}/c2b/confirm" in text
    assert "sandbox" in text and "174379" in text
    assert "Run the check" in text


async def test_the_check_reports_each_line_and_is_audited(dash) -> None:
    await dash.sign_in(ADMIN)
    answer = await dash.client.get("/dashboard/settings?check=1")
    text = await answer.text()
    assert answer.status == 200
    # the database is the one this service has open: reachable and migrated
    assert "is reachable and migrated" in text or "lacks migrations" in text
    for name in ("settings", "daraja", "telegram", "database", "sms"):
        assert f'data-label="Check">{name}<' in text
    assert await AuditEvent.filter(action="dashboard.check", actor=f"tg:{ADMIN}").exists()
