"""Staff (admins only): the team, adding, removing, the role and each person's daily limit.

Every change goes through StaffService with the signed-in admin as the actor, so the checks
(admins only, never oneself, never an ADMIN_TELEGRAM_IDS admin) and the audit are the chat's
/staff ones. A removed person's dashboard sessions end at their next request (auth.py). As with
/staff, the person's Telegram command menu follows at once (the STAFF_CHANGED_KEY hook).

Routes: ``GET /staff``, ``POST /staff/add``, ``POST /staff/{telegram_id}/{remove|role|limit}``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.services.errors import ServiceError
from bot.services.staff import parse_user_id
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import PREFIX
from bot.web.dashboard.keys import STAFF_CHANGED_KEY
from bot.web.dashboard.render import refusal_status
from bot.web.dashboard.render import render
from models import Staff
from models import StaffRole

log = logging.getLogger(__name__)

DONE = {
    "add": "Added.",
    "remove": "Removed; their dashboard sessions have ended.",
    "role": "Role changed.",
    "limit": "Daily limit set.",
}
FIELD_MAX = 128


async def _staff_page(
    request: web.Request,
    *,
    status: int = 200,
    refusal: str | None = None,
    values: dict[str, str] | None = None,
) -> web.StreamResponse:
    services = request.app[CONTAINER_KEY]
    me = request["staff"]
    members = await services.staff.list_staff(me.telegram_id)
    limits = {m.id: services.staff.daily_payout_limit(m) for m in members}
    own = {m.id: not services.staff.limit_is_default(m) for m in members}
    return render(
        request,
        "staff.html",
        status=status,
        members=members,
        limits=limits,
        own=own,
        me=me,
        roles=[r.value for r in StaffRole],
        bootstrap=set(services.settings.admin_telegram_ids),
        default_limit=services.settings.staff_daily_payout_limit,
        refusal=refusal,
        done=DONE.get(request.query.get("done", "")),
        values=values or {},
    )


@requires("admin")
async def staff_list(request: web.Request) -> web.StreamResponse:
    """GET /staff: everyone active, admins first, with their daily payout limit."""
    return await _staff_page(request)


async def _menu_follows(request: web.Request, member: Staff) -> None:
    """Show the person their new role's chat menu (or take it away) now, not at the next start."""
    publish = request.app.get(STAFF_CHANGED_KEY)
    if publish is None:
        return
    try:
        await publish(member)
    except Exception:
        # the change is made and audited; the next start publishes every menu anyway
        log.warning("dashboard.menu_failed staff=%s", member.telegram_id, exc_info=True)


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: str(v).strip()[:FIELD_MAX] for k, v in form.items() if isinstance(v, str)}


@requires("admin")
async def staff_add(request: web.Request) -> web.StreamResponse:
    """POST /staff/add: add (or re-activate) a person with a role, like /staff add."""
    values = await _form(request)
    staff = request.app[CONTAINER_KEY].staff
    try:
        member = await staff.add(
            request["staff"].telegram_id,
            parse_user_id(values.get("telegram_id", "")),
            values.get("role", ""),
            values.get("name", ""),
        )
    except ServiceError as exc:
        return await _staff_page(request, status=422, refusal=str(exc), values=values)
    await _menu_follows(request, member)
    raise web.HTTPSeeOther(f"{PREFIX}/staff?done=add")


@requires("admin")
async def staff_change(request: web.Request) -> web.StreamResponse:
    """POST /staff/{telegram_id}/{remove|role|limit}: the chat's /staff remove and limit."""
    verb = request.match_info["verb"]
    values = await _form(request)
    staff = request.app[CONTAINER_KEY].staff
    me = request["staff"].telegram_id
    try:
        who = parse_user_id(request.match_info["telegram_id"])
        changed: Staff | None = None
        if verb == "remove":
            changed = await staff.remove(me, who)
        elif verb == "role":
            member = next((m for m in await staff.list_staff(me) if m.telegram_id == who), None)
            name = member.name if member else ""
            changed = await staff.add(me, who, values.get("role", ""), name)
        else:
            await staff.set_limit(me, who, values.get("limit", ""))  # the menu stays as it is
    except ServiceError as exc:
        return await _staff_page(request, status=refusal_status(exc), refusal=str(exc))
    if changed is not None:
        await _menu_follows(request, changed)
    raise web.HTTPSeeOther(f"{PREFIX}/staff?done={verb}")


def add_routes(router: web.UrlDispatcher) -> None:
    """The staff page and its changes."""
    router.add_get("/staff", staff_list, name="staff")
    router.add_post("/staff/add", staff_add)
    router.add_post(r"/staff/{telegram_id:\d{1,15}}/{verb:remove|role|limit}", staff_change)
