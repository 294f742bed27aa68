"""Staff roles: bootstrap admins, managing the team, and refusals that reveal nothing."""

from __future__ import annotations

import pytest

from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.staff import REFUSAL
from bot.services.staff import StaffService
from models import AuditEvent
from models import Staff
from models import StaffRole

ADMIN = 1001


@pytest.fixture
def staff_service(db) -> StaffService:
    return StaffService(bootstrap_admin_ids=[ADMIN], default_daily_payout_limit=100_000)


async def test_bootstrap_admins_exist_as_admins(staff_service):
    await staff_service.bootstrap_admins()

    admin = await Staff.get(telegram_id=ADMIN)
    assert admin.role is StaffRole.ADMIN
    assert admin.active


async def test_admin_adds_a_cashier_who_can_then_act(staff_service):
    added = await staff_service.add(ADMIN, 2002, "Cashier", "Wanjiru")

    cashier = await staff_service.require(2002, StaffRole.CASHIER, StaffRole.ADMIN)
    assert (added.id, cashier.name, cashier.role) == (cashier.id, "Wanjiru", StaffRole.CASHIER)
    assert await AuditEvent.filter(action="staff.add", subject="staff:2002").count() == 1


async def test_a_stranger_is_refused_politely_and_audited(staff_service):
    with pytest.raises(NotAllowed) as caught:
        await staff_service.require(555, action="request")

    assert str(caught.value) == REFUSAL
    event = await AuditEvent.get(action="access.refused")
    assert (event.actor, event.subject, event.outcome) == ("tg:555", "request", "refused")


async def test_a_cashier_cannot_manage_staff(staff_service):
    await staff_service.add(ADMIN, 2002, "cashier")

    with pytest.raises(NotAllowed):
        await staff_service.add(2002, 3003, "admin")


async def test_bad_role_is_refused_with_the_choices(staff_service):
    with pytest.raises(InvalidInput) as caught:
        await staff_service.add(ADMIN, 2002, "boss")

    assert str(caught.value) == "The role must be admin or cashier."


async def test_removed_staff_lose_access_and_can_be_re_added(staff_service):
    await staff_service.add(ADMIN, 2002, "cashier")
    await staff_service.remove(ADMIN, 2002)

    with pytest.raises(NotAllowed):
        await staff_service.require(2002)
    await staff_service.add(ADMIN, 2002, "admin")
    assert (await staff_service.require(2002, StaffRole.ADMIN)).role is StaffRole.ADMIN


@pytest.mark.parametrize(
    ("target", "error", "text"),
    [
        (ADMIN, Conflict, "You cannot remove yourself."),
        (4004, NotFound, "No active staff member has the Telegram id 4004."),
    ],
)
async def test_remove_refusals(staff_service, target, error, text):
    with pytest.raises(error) as caught:
        await staff_service.remove(ADMIN, target)

    assert str(caught.value) == text


async def test_daily_limit_defaults_to_the_setting(staff_service):
    await staff_service.add(ADMIN, 2002, "admin")
    staff = await Staff.get(telegram_id=2002)

    assert staff_service.daily_payout_limit(staff) == 100_000
    staff.daily_payout_limit = 5_000
    assert staff_service.daily_payout_limit(staff) == 5_000


async def test_a_members_telegram_name_is_kept_as_it_changes(staff_service):
    await staff_service.add(ADMIN, 2002, "cashier", "Till 1")

    await staff_service.note_name(2002, "Brian")
    assert (await Staff.get(telegram_id=2002)).telegram_name == "Brian"
    await staff_service.note_name(2002, "  Brian   Otieno ")
    member = await Staff.get(telegram_id=2002)
    # the name an admin gave stays as it was, beside it
    assert (member.name, member.telegram_name) == ("Till 1", "Brian Otieno")


async def test_the_same_name_again_costs_no_write(staff_service):
    await staff_service.add(ADMIN, 2002, "cashier")
    await staff_service.note_name(2002, "Brian")
    # changed behind the service's back: a repeated name must not even be written
    await Staff.filter(telegram_id=2002).update(telegram_name="Changed elsewhere")

    await staff_service.note_name(2002, "Brian")

    assert (await Staff.get(telegram_id=2002)).telegram_name == "Changed elsewhere"


async def test_a_bootstrap_admins_first_update_names_them(staff_service):
    await staff_service.note_name(ADMIN, "Amina")

    admin = await Staff.get(telegram_id=ADMIN)
    assert (admin.role, admin.name, admin.telegram_name) == (StaffRole.ADMIN, "", "Amina")


async def test_a_strangers_name_is_not_kept(staff_service):
    await staff_service.note_name(555, "Stranger")
    await staff_service.note_name(555, "")

    assert await Staff.filter(telegram_id=555).exists() is False


async def test_someone_added_after_their_name_was_seen_gets_it_at_their_next_update(
    staff_service,
):
    await staff_service.note_name(2002, "Brian")  # not staff yet: nothing kept
    await staff_service.add(ADMIN, 2002, "cashier")

    await staff_service.note_name(2002, "Brian")

    assert (await Staff.get(telegram_id=2002)).telegram_name == "Brian"
