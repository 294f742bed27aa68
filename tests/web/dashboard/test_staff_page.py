"""The staff page: the chat's /staff through StaffService, with the same checks and audit."""

from __future__ import annotations

from models import AuditEvent
from models import Staff
from models import StaffRole
from tests.web.dashboard.conftest import ADMIN
from tests.web.dashboard.conftest import CASHIER
from tests.web.dashboard.conftest import csrf_of


async def post(dash, path: str, **data: str):
    page = await dash.client.get("/dashboard/staff")
    assert page.status == 200
    token = csrf_of(await page.text())
    return await dash.client.post(path, data={"csrf_token": token, **data}, allow_redirects=False)


async def test_add_change_limit_and_remove_are_audited_as_the_admin(dash):
    await dash.sign_in(ADMIN)

    added = await post(
        dash, "/dashboard/staff/add", telegram_id="3003", role="cashier", name="Otieno"
    )
    role = await post(dash, "/dashboard/staff/3003/role", role="admin")
    limit = await post(dash, "/dashboard/staff/3003/limit", limit="25,000")
    listed = await (await dash.client.get("/dashboard/staff")).text()
    removed = await post(dash, "/dashboard/staff/3003/remove")

    assert [a.status for a in (added, role, limit, removed)] == [303] * 4
    assert "Otieno" in listed and "KES 25,000" in listed
    member = await Staff.get(telegram_id=3003)
    assert (member.role, member.daily_payout_limit, member.active) == (
        StaffRole.ADMIN,
        25_000,
        False,
    )
    events = (
        await AuditEvent.filter(subject="staff:3003").order_by("id").values_list("actor", "action")
    )
    assert events == [
        (f"tg:{ADMIN}", "staff.add"),
        (f"tg:{ADMIN}", "staff.add"),
        (f"tg:{ADMIN}", "staff.limit"),
        (f"tg:{ADMIN}", "staff.remove"),
    ]


async def test_the_services_refusals_are_shown(dash):
    await dash.sign_in(ADMIN)

    bad_id = await post(dash, "/dashboard/staff/add", telegram_id="abc", role="cashier")
    bad_role = await post(dash, "/dashboard/staff/add", telegram_id="3004", role="boss")
    bad_limit = await post(dash, f"/dashboard/staff/{CASHIER}/limit", limit="lots")
    myself = await post(dash, f"/dashboard/staff/{ADMIN}/remove")

    assert bad_id.status == 422 and "is not a Telegram user id" in await bad_id.text()
    assert bad_role.status == 422 and "The role must be admin or cashier." in await bad_role.text()
    assert bad_limit.status == 422 and "lots is not an amount" in await bad_limit.text()
    assert myself.status == 409
    assert "This admin is set in ADMIN_TELEGRAM_IDS" in await myself.text() or (
        "You cannot remove yourself." in await myself.text()
    )
    assert await Staff.filter(telegram_id=3004).count() == 0


async def test_a_removed_cashier_is_signed_out_at_once(dash, aiohttp_client):
    other = await aiohttp_client(dash.client.server)
    await dash.sign_in(CASHIER, on=other)
    assert (await other.get("/dashboard/request")).status == 200
    await dash.sign_in(ADMIN)

    await post(dash, f"/dashboard/staff/{CASHIER}/remove")

    after = await other.get("/dashboard/request", allow_redirects=False)
    assert after.status in (302, 303)


async def test_a_cashier_gets_403(dash):
    await dash.sign_in(CASHIER)

    answer = await dash.client.get("/dashboard/staff")

    assert answer.status == 403
    assert "Telegram id" not in await answer.text()
