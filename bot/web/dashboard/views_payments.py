"""The payments pages: the searchable table, its CSV export, and one payment with its actions.

Routes: ``GET /payments`` (search, sort, page), ``GET /payments.csv`` (exactly what is
filtered), ``GET /payments/{id}``, ``POST /payments/{id}/check|retry|resolve|decide|reverse``
and ``GET /payments/{id}/reverse`` (the confirm step). Every action is one service call, the
chat's own: the rules (who, when, how often) live there.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.services.errors import InvalidInput
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.services.payment_search import SORTS
from bot.services.payment_search import PaymentQuery
from bot.services.payment_search import parse_payment_query
from bot.services.reports import shows_full_numbers
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import SETTINGS_KEY
from bot.web.dashboard.render import render
from models import PaymentStatus
from models import StaffRole

log = logging.getLogger(__name__)

SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "amount_desc": "Largest amount first",
    "amount_asc": "Smallest amount first",
}
PAYMENT_STATUSES = [s.value for s in PaymentStatus]
PAYBILL_STATUSES = ["received", "reversed"]


def _services(request: web.Request) -> Any:
    return request.app[CONTAINER_KEY]


def _actor(request: web.Request) -> str:
    return actor_for_telegram(request["staff"].telegram_id)


def _is_admin(request: web.Request) -> bool:
    return StaffRole(request["staff"].role) is StaffRole.ADMIN


def _form_values(request: web.Request) -> dict[str, str]:
    return {
        k: request.query.get(k, "")
        for k in ("kind", "q", "status", "min", "max", "from", "to", "staff", "sort")
    }


async def _table_context(request: web.Request) -> tuple[dict[str, Any], int]:
    services = _services(request)
    values = _form_values(request)
    error: ServiceError | None = None
    try:
        query = parse_payment_query(request.query, request.app[SETTINGS_KEY])
    except InvalidInput as exc:
        error, query = exc, PaymentQuery(kind="paybill" if values["kind"] == "paybill" else "stk")
    found = await services.payment_search.search(query)
    return {
        "found": found,
        "q": query,
        "values": values,
        "error": error,
        "sorts": SORT_LABELS,
        "statuses": PAYBILL_STATUSES if query.kind == "paybill" else PAYMENT_STATUSES,
        "staff_choices": await services.payment_search.staff_choices(),
        "link": lambda **changes: "/dashboard/payments?" + urlencode(query.params(**changes)),
        "csv_link": "/dashboard/payments.csv?" + urlencode(query.params(page=1)),
    }, (400 if error else 200)


@requires("cashier")
async def payments(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/payments: the table of payment requests or paybill payments."""
    context, status = await _table_context(request)
    return render(request, "payments.html", status=status, **context)


@requires("cashier")
async def payments_csv(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/payments.csv: all the filters find (phones masked for cashiers)."""
    try:
        query = parse_payment_query(request.query, request.app[SETTINGS_KEY])
    except InvalidInput:
        context, status = await _table_context(request)
        return render(request, "payments.html", status=status, **context)
    staff = request["staff"]
    out = io.StringIO()
    rows = await _services(request).payment_search.export_csv(query, out, viewer=staff)
    full = shows_full_numbers(staff)
    await audit(
        _actor(request),
        "dashboard.export",
        subject=query.kind,
        rows=rows,
        full_numbers=full,
        filters=urlencode(query.params(page=1))[:200],
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    name = f"payments-{query.kind}-{stamp}{'' if full else '-masked'}.csv"
    return web.Response(
        body=out.getvalue().encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _payment_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


async def _detail_page(
    request: web.Request,
    payment_id: int,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
    look: Any = None,
) -> web.StreamResponse:
    try:
        detail = await _services(request).payment_search.detail(payment_id)
    except NotFound as exc:
        return render(
            request, "message.html", status=404, title="Payment not found", message=str(exc)
        )
    return render(
        request,
        "payment.html",
        status=status,
        view=detail,
        p=detail.payment,
        notice=notice or request.query.get("done"),
        error=error,
        look=look,
        final=PaymentStatus(detail.payment.status).is_final,
    )


NOTICES = {
    "checked": "Asked M-Pesa just now; the page shows what it said.",
    "decided": "Your decision is recorded.",
    "reversal": "The reversal was sent to M-Pesa; its result appears below when it comes.",
}


@requires("cashier")
async def payment(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/payments/{id}: one payment, its timeline and what can be done."""
    done = request.query.get("done")
    return await _detail_page(request, _payment_id(request), notice=NOTICES.get(done or ""))


def _back(payment_id: int, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/dashboard/payments/{payment_id}?done={done}")


@requires("cashier")
async def check(request: web.Request) -> web.StreamResponse:
    """POST /payments/{id}/check: ask M-Pesa (or Airtel) now, as [Check with M-Pesa] does."""
    payment_id = _payment_id(request)
    try:
        await _services(request).payments.refresh_status(f"#{payment_id}", actor=_actor(request))
    except ServiceError as exc:
        return await _detail_page(request, payment_id, status=_status(exc), error=str(exc))
    raise _back(payment_id, "checked")


@requires("cashier")
async def retry(request: web.Request) -> web.StreamResponse:
    """POST /payments/{id}/retry: send the newest failed attempt again, as [Retry] does."""
    payment_id = _payment_id(request)
    try:
        new = await _services(request).payments.retry_payment(
            payment_id, initiator=request["staff"], actor=_actor(request)
        )
    except ServiceError as exc:
        return await _detail_page(request, payment_id, status=_status(exc), error=str(exc))
    raise web.HTTPSeeOther(f"/dashboard/payments/{new.id}")


@requires("admin")
async def resolve(request: web.Request) -> web.StreamResponse:
    """POST /payments/{id}/resolve: a fresh look at M-Pesa, then the two decisions (admins)."""
    payment_id = _payment_id(request)
    staff = request["staff"]
    try:
        look = await _services(request).resolutions.look(
            f"#{payment_id}", by_telegram_id=staff.telegram_id
        )
    except ServiceError as exc:
        return await _detail_page(request, payment_id, status=_status(exc), error=str(exc))
    return await _detail_page(request, payment_id, look=look)


@requires("admin")
async def decide(request: web.Request) -> web.StreamResponse:
    """POST /payments/{id}/decide (verdict paid|failed): record the admin's decision."""
    payment_id = _payment_id(request)
    form = await request.post()
    try:
        await _services(request).resolutions.decide(
            f"#{payment_id}",
            str(form.get("verdict", "")),
            by_telegram_id=request["staff"].telegram_id,
        )
    except ServiceError as exc:
        return await _detail_page(request, payment_id, status=_status(exc), error=str(exc))
    raise _back(payment_id, "decided")


@requires("admin")
async def reverse_page(request: web.Request) -> web.StreamResponse:
    """GET /payments/{id}/reverse: the confirm step before a reversal (admins)."""
    payment_id = _payment_id(request)
    try:
        detail = await _services(request).payment_search.detail(payment_id)
    except NotFound as exc:
        return render(
            request, "message.html", status=404, title="Payment not found", message=str(exc)
        )
    return render(request, "reverse.html", p=detail.payment)


@requires("admin")
async def reverse(request: web.Request) -> web.StreamResponse:
    """POST /payments/{id}/reverse: send the reversal of this payment's receipt, once."""
    payment_id = _payment_id(request)
    try:
        detail = await _services(request).payment_search.detail(payment_id)
        if not detail.payment.receipt:
            raise InvalidInput("This payment has no M-Pesa receipt to reverse.")
        await _services(request).reversals.reverse(
            detail.payment.receipt, by_telegram_id=request["staff"].telegram_id
        )
    except ServiceError as exc:
        return await _detail_page(request, payment_id, status=_status(exc), error=str(exc))
    raise _back(payment_id, "reversal")


# not render.refusal_status: a wrong input answers 400 here (as it always has), 422 elsewhere
def _status(exc: ServiceError) -> int:
    return {"not_found": 404, "not_allowed": 403, "invalid_input": 400}.get(exc.code, 409)


def add_routes(router: web.UrlDispatcher) -> None:
    """The payments routes."""
    router.add_get("/payments", payments, name="payments")
    router.add_get("/payments.csv", payments_csv, name="payments_csv")
    router.add_get("/payments/{id}", payment, name="payment")
    router.add_post("/payments/{id}/check", check)
    router.add_post("/payments/{id}/retry", retry)
    router.add_post("/payments/{id}/resolve", resolve)
    router.add_post("/payments/{id}/decide", decide)
    router.add_get("/payments/{id}/reverse", reverse_page)
    router.add_post("/payments/{id}/reverse", reverse)


__all__ = ["SORTS", "add_routes"]
