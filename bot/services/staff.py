"""Staff members and their roles: who may request, send, approve and manage."""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from dataclasses import dataclass

from tortoise.expressions import Q

from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.lookups import PreparedSelect
from bot.services.lookups import from_row
from bot.services.lookups import select_list
from models import Payout
from models import Staff
from models import StaffRole
from mpesa.amounts import AmountError
from mpesa.amounts import parse_amount

log = logging.getLogger(__name__)

# the refusal says nothing about what exists or who is staff
REFUSAL = "Sorry, this command is only for the shop's staff."
# a personal daily payout limit is at most this (KES); 0 means the person may send nothing
MAX_DAILY_LIMIT = 100_000_000
# Telegram names remembered in memory (a bounded cache: customers' updates pass through too)
NAMES_REMEMBERED = 10_000
# a cashier may learn that the command or button exists and needs an admin
ADMINS_ONLY = "Only an admin can do this; ask one of the shop's admins."

_BY_TELEGRAM_ID = PreparedSelect(
    lambda: (
        f'SELECT {select_list(Staff, "s")} FROM "{Staff._meta.db_table}" AS s '  # noqa: S608 - names from the model
        'WHERE s."telegram_id" = ?'
    )
)


def parse_user_id(raw: str) -> int:
    """A Telegram user id as typed, or InvalidInput saying why not."""
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 15:
        raise InvalidInput(
            f"{text[:30]} is not a Telegram user id (a number; the person can see theirs in "
            "@userinfobot).",
            field="user_id",
        )
    return int(text)


@dataclass(frozen=True)
class PayoutPeople:
    """Who asked for a payout, and who approved or rejected it (None: nobody yet)."""

    initiator: Staff | None
    approver: Staff | None
    rejecter: Staff | None


class StaffService:
    """Looks up staff, checks roles, and lets admins manage the team."""

    def __init__(self, *, bootstrap_admin_ids: list[int], default_daily_payout_limit: int) -> None:
        self._bootstrap = set(bootstrap_admin_ids)
        self._default_limit = default_daily_payout_limit
        # the Telegram name last written (or found already stored) per user: most updates
        # then cost no query at all
        self._names: OrderedDict[int, str] = OrderedDict()

    async def note_name(self, telegram_id: int, name: str | None) -> None:
        """Remember the Telegram name a staff member's update shows; written only when it changed.

        Anyone else's update changes nothing (one UPDATE matching no row, then remembered).
        """
        name = " ".join((name or "").split())[:128]
        if not name or self._names.get(telegram_id) == name:
            if name:
                self._names.move_to_end(telegram_id)
            return
        if telegram_id in self._bootstrap:
            await self.find(telegram_id)  # an ADMIN_TELEGRAM_IDS admin's first update adds them
        changed = (
            await Staff.filter(telegram_id=telegram_id)
            .filter(Q(telegram_name__isnull=True) | ~Q(telegram_name=name))
            .update(telegram_name=name)
        )
        if changed:
            log.info("staff.telegram_name staff=%s", telegram_id)
        self._names[telegram_id] = name
        self._names.move_to_end(telegram_id)
        while len(self._names) > NAMES_REMEMBERED:
            self._names.popitem(last=False)

    async def bootstrap_admins(self) -> None:
        """Make sure every ADMIN_TELEGRAM_IDS user exists as an active admin."""
        for telegram_id in sorted(self._bootstrap):
            await self._ensure_bootstrap(telegram_id)

    async def _ensure_bootstrap(self, telegram_id: int) -> Staff:
        staff, created = await Staff.get_or_create(
            telegram_id=telegram_id,
            defaults={"role": StaffRole.ADMIN, "name": "", "active": True},
        )
        if created:
            self._names.pop(telegram_id, None)
            await audit("system", "staff.bootstrap", subject=f"staff:{telegram_id}")
        return staff

    async def find(self, telegram_id: int) -> Staff | None:
        """The active staff member with this Telegram id, or None."""
        rows = await _BY_TELEGRAM_ID.rows(telegram_id)  # before every command: kept lean
        staff = from_row(Staff, "s", rows[0]) if rows else None
        if telegram_id in self._bootstrap:
            # get_or_create (a transaction) only the first time
            if staff is None:
                staff = await self._ensure_bootstrap(telegram_id)
            # a bootstrap admin is always an active admin: the setting is the source of truth
            if staff.role is not StaffRole.ADMIN or not staff.active:
                staff.role, staff.active = StaffRole.ADMIN, True
                await staff.save(update_fields=["role", "active", "updated_at"])
            return staff
        return staff if staff is not None and staff.active else None

    async def require(
        self, telegram_id: int, *roles: StaffRole, action: str = "", name: str | None = None
    ) -> Staff:
        """Return the staff member if they hold one of ``roles``; refuse (and audit) otherwise.

        ``name`` (the person's Telegram name, when the caller has it) is noted as ``note_name``
        does; the chat notes it from every update already.
        """
        if name:
            await self.note_name(telegram_id, name)
        staff = await self.find(telegram_id)
        allowed = roles or (StaffRole.ADMIN, StaffRole.CASHIER)
        if staff is None or staff.role not in allowed:
            await audit(
                actor_for_telegram(telegram_id),
                "access.refused",
                subject=action,
                outcome="refused",
            )
            raise NotAllowed(REFUSAL if staff is None else ADMINS_ONLY)
        return staff

    async def payout_people(self, payout: Payout) -> PayoutPeople:
        """The staff members a payout card names, in one query."""
        ids = {payout.initiated_by_id, payout.approved_by_id, payout.rejected_by_id} - {None}
        found = {s.id: s for s in await Staff.filter(id__in=list(ids))} if ids else {}
        return PayoutPeople(
            initiator=found.get(payout.initiated_by_id),
            approver=found.get(payout.approved_by_id),
            rejecter=found.get(payout.rejected_by_id),
        )

    def daily_payout_limit(self, staff: Staff) -> int:
        """The staff member's daily payout limit in shillings."""
        if staff.daily_payout_limit is not None:
            return staff.daily_payout_limit
        return self._default_limit

    async def set_limit(self, actor_id: int, telegram_id: int, raw_limit: str) -> Staff:
        """Set a staff member's own daily payout limit, or "default" for the setting (admins)."""
        await self.require(actor_id, StaffRole.ADMIN, action="staff.limit")
        return await self._set_limit(actor_for_telegram(actor_id), telegram_id, raw_limit)

    async def set_limit_as_operator(self, telegram_id: int, raw_limit: str) -> Staff:
        """Set a daily payout limit from the command line (the operator is trusted)."""
        return await self._set_limit("cli", telegram_id, raw_limit)

    async def _set_limit(self, actor: str, telegram_id: int, raw_limit: str) -> Staff:
        text = (raw_limit or "").strip().lower()
        limit: int | None
        if text == "default":
            limit = None
        elif text == "0":
            limit = 0  # this person may send nothing
        else:
            try:
                # no upper bound here: a limit's own maximum is said below, in its own words
                limit = parse_amount(text, minimum=1, maximum=sys.maxsize)
            except AmountError as exc:
                raise InvalidInput(
                    f"{exc}. Give whole shillings (e.g. 50000), 0 for no payouts, or default "
                    f"for KES {self._default_limit:,}.",
                    field="limit",
                ) from None
            if limit > MAX_DAILY_LIMIT:
                raise InvalidInput(
                    f"KES {limit:,} is over the largest daily payout limit, "
                    f"KES {MAX_DAILY_LIMIT:,}.",
                    field="limit",
                )
        staff = await Staff.get_or_none(telegram_id=telegram_id, active=True)
        if staff is None:
            raise NotFound(f"No active staff member has the Telegram id {telegram_id}.")
        before = self.daily_payout_limit(staff)
        await Staff.filter(id=staff.id).update(daily_payout_limit=limit)
        staff = await Staff.get(id=staff.id)
        await audit(
            actor,
            "staff.limit",
            subject=f"staff:{telegram_id}",
            before=before,
            after=self.daily_payout_limit(staff),
            own=limit is not None,
        )
        return staff

    def limit_is_default(self, staff: Staff) -> bool:
        """True when the staff member has no limit of their own."""
        return staff.daily_payout_limit is None

    async def active_members(self) -> list[Staff]:
        """Every active staff member (bootstrap admins included), for menus and alerts."""
        await self.bootstrap_admins()
        return await Staff.filter(active=True).order_by("telegram_id")

    async def everyone(self) -> list[Staff]:
        """Every staff member ever added, active or removed (bootstrap admins included)."""
        await self.bootstrap_admins()
        return await Staff.all().order_by("telegram_id")

    async def list_staff(self, actor_id: int) -> list[Staff]:
        """Every active staff member, admins first (admins only)."""
        await self.require(actor_id, StaffRole.ADMIN, action="staff.list")
        rows = await Staff.filter(active=True).order_by("role", "telegram_id")
        return rows

    async def add(
        self, actor_id: int, telegram_id: int, role: StaffRole | str, name: str = ""
    ) -> Staff:
        """Add or re-activate a staff member with a role (admins only)."""
        await self.require(actor_id, StaffRole.ADMIN, action="staff.add")
        return await self._add(actor_for_telegram(actor_id), actor_id, telegram_id, role, name)

    async def add_as_operator(
        self, telegram_id: int, role: StaffRole | str, name: str = ""
    ) -> Staff:
        """Add or re-activate a staff member from the command line (the operator is trusted)."""
        return await self._add("cli", None, telegram_id, role, name)

    async def _add(
        self,
        actor: str,
        actor_id: int | None,
        telegram_id: int,
        role: StaffRole | str,
        name: str,
    ) -> Staff:
        try:
            role = StaffRole(str(role).lower())
        except ValueError:
            raise InvalidInput("The role must be admin or cashier.", field="role") from None
        if telegram_id <= 0:
            raise InvalidInput("A Telegram user id is a positive number.", field="user_id")
        name = name.strip()[:128]
        staff = await Staff.get_or_none(telegram_id=telegram_id)
        if staff is None:
            staff = await Staff.create(
                telegram_id=telegram_id,
                role=role,
                name=name,
                added_by_telegram_id=actor_id,
            )
        else:
            staff.role, staff.active = role, True
            staff.name = name or staff.name
            staff.added_by_telegram_id = actor_id
            await staff.save()
        # their next update writes their Telegram name, even if it was seen before they joined
        self._names.pop(telegram_id, None)
        await audit(actor, "staff.add", subject=f"staff:{telegram_id}", role=role.value)
        return staff

    async def remove(self, actor_id: int, telegram_id: int) -> Staff:
        """Deactivate a staff member (admins only; bootstrap admins and oneself are refused)."""
        await self.require(actor_id, StaffRole.ADMIN, action="staff.remove")
        if telegram_id == actor_id:
            raise Conflict("You cannot remove yourself.")
        return await self._remove(actor_for_telegram(actor_id), telegram_id)

    async def remove_as_operator(self, telegram_id: int) -> Staff:
        """Deactivate a staff member from the command line."""
        return await self._remove("cli", telegram_id)

    async def _remove(self, actor: str, telegram_id: int) -> Staff:
        if telegram_id in self._bootstrap:
            raise Conflict(
                "This admin is set in ADMIN_TELEGRAM_IDS; remove them there and restart."
            )
        staff = await Staff.get_or_none(telegram_id=telegram_id, active=True)
        if staff is None:
            raise NotFound(f"No active staff member has the Telegram id {telegram_id}.")
        staff.active = False
        await staff.save(update_fields=["active", "updated_at"])
        await audit(actor, "staff.remove", subject=f"staff:{telegram_id}")
        return staff
