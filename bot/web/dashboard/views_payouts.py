"""Payouts (admins only): the list with search, filters, sorting and pages, the daily limit left
per admin, and a payout's page with the chat's decisions.

Maker-checker is the payouts service's: only the admin who asked confirms or cancels, never
that admin approves; Resolve looks at M-Pesa (or Airtel) afresh through the resolutions service
before a verdict, exactly as /resolve does.

Routes: ``GET /payouts``, ``GET /payouts/{id}``, ``POST /payouts/{id}/{confirm|cancel|approve|
reject}``, ``POST /payouts/{id}/resolve`` (the look), ``POST /payouts/{id}/decide``.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.services.payout_search import SORTS
from bot.services.payout_search import PayoutFilter
from bot.services.payout_search import PayoutSearch
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import PREFIX
from bot.web.dashboard.render import refusal_status
from bot.web.dashboard.render import render
from models import PayoutStatus
from mpesa.amounts import AmountError
from mpesa.amounts import parse_amount

log = logging.getLogger(__name__)

DONE = {
    "confirm": "Confirmed.",
    "cancel": "Cancelled; nothing was sent.",
    "approve": "Approved; the payout is on its way.",
    "reject": "Rejected; nothing was sent.",
    "sent": "Recorded as sent.",
    "failed": "Recorded as failed; nothing more will be asked.",
}
PARKED = (PayoutStatus.SUBMITTING, PayoutStatus.SUBMITTED, PayoutStatus.UNKNOWN)
VERDICT_LABELS = {"sent": "It was sent", "failed": "It failed"}
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "amount_desc": "Largest amount",
    "amount_asc": "Smallest amount",
    "status": "Status",
}


def search_of(services: Any) -> PayoutSearch:
    """The container's PayoutSearch."""
    return services.payout_search


def read_filter(query: Any) -> tuple[PayoutFilter, dict[str, str], dict[str, str]]:
    """The filter a query string asks for, the values as typed, and per field why not."""
    values = {k: str(query.get(k, "")).strip()[:96] for k in _FILTER_FIELDS}
    errors: dict[str, str] = {}
    status = None
    if values["status"]:
        try:
            status = PayoutStatus(values["status"])
        except ValueError:
            errors["status"] = f"{values['status']} is not a payout status."
    start = _date(values, "from", errors)
    end = _date(values, "to", errors)
    low = _amount(values, "min", errors)
    high = _amount(values, "max", errors)
    staff_id = int(values["staff"]) if values["staff"].isdigit() else None
    page = int(values["page"]) if values["page"].isdigit() and len(values["page"]) < 7 else 1
    sort = values["sort"] if values["sort"] in SORTS else "newest"
    f = PayoutFilter(
        text=values["q"],
        status=status,
        start=start,
        end=end,
        min_amount=low,
        max_amount=high,
        staff_id=staff_id,
        sort=sort,
        page=page,
    )
    return f, values, errors


_FILTER_FIELDS = ("q", "status", "from", "to", "min", "max", "staff", "sort", "page")


def _date(values: dict[str, str], name: str, errors: dict[str, str]) -> date | None:
    if not values[name]:
        return None
    try:
        return date.fromisoformat(values[name])
    except ValueError:
        errors[name] = f"{values[name]} is not a date (YYYY-MM-DD)."
        return None


def _amount(values: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    if not values[name]:
        return None
    try:
        return parse_amount(values[name], minimum=0, maximum=10**12)
    except AmountError as exc:
        errors[name] = str(exc)
        return None


@requires("admin")
async def payouts_list(request: web.Request) -> web.StreamResponse:
    """GET /payouts: search, filter, sort, page; each admin's daily limit left."""
    services = request.app[CONTAINER_KEY]
    search = search_of(services)
    f, values, errors = read_filter(request.query)
    page = await search.page(f)
    kept = {k: v for k, v in values.items() if v and k != "page"}

    def page_url(number: int) -> str:
        return f"{PREFIX}/payouts?" + urlencode({**kept, "page": str(number)})

    return render(
        request,
        "payouts.html",
        page=page,
        values=values,
        errors=errors,
        statuses=[s.value for s in PayoutStatus],
        sorts=SORT_LABELS,
        admins=await search.admins(),
        limits=await search.limits_left(),
        page_url=page_url,
    )


async def _payout_page(
    request: web.Request,
    payout_id: int,
    *,
    status: int = 200,
    refusal: str | None = None,
    look: Any = None,
) -> web.StreamResponse:
    services = request.app[CONTAINER_KEY]
    try:
        payout = await services.payouts.find(str(payout_id))
    except NotFound as exc:
        return render(request, "message.html", status=404, title="No such payout", message=str(exc))
    people = await services.staff.payout_people(payout)
    me = request["staff"]
    state = PayoutStatus(payout.status)
    mine = payout.initiated_by_id == me.id
    initiator = people.initiator
    return render(
        request,
        "payout.html",
        status=status,
        payout=payout,
        people=people,
        names=await search_of(services).names([payout]),
        mine=mine,
        can_confirm=state is PayoutStatus.AWAITING_CONFIRMATION and mine,
        can_approve=state is PayoutStatus.AWAITING_APPROVAL and not mine,
        parked=state in PARKED,
        live=state not in _SETTLED,
        limit_left=await services.payouts.limit_left(initiator) if initiator else None,
        threshold=services.settings.payout_approval_threshold,
        refusal=refusal,
        done=DONE.get(request.query.get("done", "")),
        look=look,
        verdict_labels=VERDICT_LABELS,
    )


_SETTLED = (
    PayoutStatus.COMPLETED,
    PayoutStatus.FAILED,
    PayoutStatus.CANCELLED,
    PayoutStatus.REJECTED,
)


@requires("admin")
async def payout_detail(request: web.Request) -> web.StreamResponse:
    """GET /payouts/{id}: the payout, who asked and decided, and what may be done now."""
    return await _payout_page(request, _payout_id(request))


# each action is one service call with its refusal shown on the same page, as in views_payments:
# alike on purpose (the edge only translates)
@requires("admin")
async def payout_decide(request: web.Request) -> web.StreamResponse:
    """POST /payouts/{id}/{verb}: Confirm, Cancel, Approve or Reject, by the chat's rules."""
    payout_id = _payout_id(request)
    verb = request.match_info["verb"]
    payouts = request.app[CONTAINER_KEY].payouts
    decide = {
        "confirm": payouts.confirm_payout,
        "cancel": payouts.cancel_payout,
        "approve": payouts.approve_payout,
        "reject": payouts.reject_payout,
    }[verb]
    try:
        # a second press, another tab or another admin loses the service's conditional update
        await decide(payout_id, by_telegram_id=request["staff"].telegram_id)
    except ServiceError as exc:
        return await _payout_page(request, payout_id, status=refusal_status(exc), refusal=str(exc))
    raise web.HTTPSeeOther(f"{PREFIX}/payouts/{payout_id}?done={verb}")


@requires("admin")
async def payout_resolve(request: web.Request) -> web.StreamResponse:
    """POST /payouts/{id}/resolve: ask M-Pesa afresh (like /resolve P12) and show the answer."""
    payout_id = _payout_id(request)
    resolutions = request.app[CONTAINER_KEY].resolutions
    try:
        look = await resolutions.look(f"P{payout_id}", by_telegram_id=request["staff"].telegram_id)
    except ServiceError as exc:
        return await _payout_page(request, payout_id, status=refusal_status(exc), refusal=str(exc))
    return await _payout_page(request, payout_id, look=look)


@requires("admin")
async def payout_verdict(request: web.Request) -> web.StreamResponse:
    """POST /payouts/{id}/decide: record "sent" or "failed" after a fresh look."""
    payout_id = _payout_id(request)
    verdict = str((await request.post()).get("verdict", ""))[:16]
    resolutions = request.app[CONTAINER_KEY].resolutions
    try:
        await resolutions.decide(
            f"P{payout_id}", verdict, by_telegram_id=request["staff"].telegram_id
        )
    except ServiceError as exc:
        return await _payout_page(request, payout_id, status=refusal_status(exc), refusal=str(exc))
    raise web.HTTPSeeOther(f"{PREFIX}/payouts/{payout_id}?done={verdict}")


def _payout_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPNotFound()
    return int(raw)


def add_routes(router: web.UrlDispatcher) -> None:
    """The payouts list, a payout's page and its decisions."""
    router.add_get("/payouts", payouts_list, name="payouts")
    router.add_get("/payouts/{id}", payout_detail, name="payout")
    router.add_post(r"/payouts/{id}/{verb:confirm|cancel|approve|reject}", payout_decide)
    router.add_post("/payouts/{id}/resolve", payout_resolve)
    router.add_post("/payouts/{id}/decide", payout_verdict)
