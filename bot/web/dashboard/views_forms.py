"""The Request payment and Send money forms: checked as typed, confirmed, then the record.

Every check is the services' own (PaymentService.check_request, PayoutService.check_send): the
JSON endpoint the script asks while a person types and the server-side check of a sent form
give the same words. A request is confirmed on a second page, then sent by
``PaymentService.request_payment`` like /request; a payout is recorded by
``PayoutService.send_money`` like /send and confirmed on its own page, like the chat's [Confirm].

Routes: ``GET|POST /request``, ``POST /request/confirm``, ``POST /check/request``,
``GET|POST /send``, ``POST /check/send``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.i18n import kes
from bot.services.audit import actor_for_telegram
from bot.services.errors import InvalidInput
from bot.services.errors import ServiceError
from bot.services.providers import provider_name
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.keys import PREFIX
from bot.web.dashboard.render import phone
from bot.web.dashboard.render import render

log = logging.getLogger(__name__)

DESCRIPTION_MAX = 255
FIELD_MAX = 120  # longer text is no phone or amount; it is cut before it is read


async def _fields(request: web.Request, *names: str) -> dict[str, str]:
    form = await request.post()
    cap = {"description": DESCRIPTION_MAX, "reason": DESCRIPTION_MAX}
    return {name: str(form.get(name, "")).strip()[: cap.get(name, FIELD_MAX)] for name in names}


def _phone_words(check: Any) -> str:
    routed = check.routed
    return f"{provider_name(routed.provider)} number {phone(routed.msisdn)}"


def _verdicts(check: Any, ok_words: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per field: ok and the words to show (the refusal, or what it will be read as)."""
    out: dict[str, dict[str, Any]] = {}
    for name, words in ok_words.items():
        error = check.errors.get(name)
        out[name] = {"ok": error is None, "message": str(error) if error else words}
    return out


def _request_verdicts(check: Any) -> dict[str, dict[str, Any]]:
    return _verdicts(
        check,
        {
            "phone": _phone_words(check) if check.routed else "",
            "amount": kes(check.amount) if check.amount is not None else "",
        },
    )


def _send_verdicts(check: Any, threshold: int) -> dict[str, dict[str, Any]]:
    amount = ""
    if check.amount is not None:
        amount = kes(check.amount)
        if check.needs_approval:
            amount += f": above {kes(threshold)}, so a second admin must approve it"
    return _verdicts(
        check,
        {
            "phone": _phone_words(check) if check.routed else "",
            "amount": amount,
            "reason": "",
        },
    )


# -- Request payment ------------------------------------------------------------------------


@requires("cashier")
async def request_form(request: web.Request) -> web.StreamResponse:
    """GET /request: the empty form."""
    return render(request, "request.html", values={}, errors={}, refusal=None)


@requires("cashier")
async def request_check(request: web.Request) -> web.StreamResponse:
    """POST /check/request: the services' verdict on each field, as JSON (nothing is sent)."""
    values = await _fields(request, "phone", "amount")
    check = request.app[CONTAINER_KEY].payments.check_request(values["phone"], values["amount"])
    return web.json_response({"ok": check.ok, "fields": _request_verdicts(check)})


@requires("cashier")
async def request_submit(request: web.Request) -> web.StreamResponse:
    """POST /request: check the fields; the confirm page if they are right, else the form."""
    values = await _fields(request, "phone", "amount", "description", "edit")
    if values.pop("edit"):
        # "Change" on the confirm page: the form again, as it was filled in
        return render(request, "request.html", values=values, errors={}, refusal=None)
    check = request.app[CONTAINER_KEY].payments.check_request(values["phone"], values["amount"])
    if not check.ok:
        errors = {name: str(error) for name, error in check.errors.items()}
        return render(
            request, "request.html", status=422, values=values, errors=errors, refusal=None
        )
    return render(
        request,
        "request_confirm.html",
        values=values,
        provider=provider_name(check.routed.provider),
        msisdn=check.routed.msisdn,
        amount=check.amount,
    )


@requires("cashier")
async def request_confirm(request: web.Request) -> web.StreamResponse:
    """POST /request/confirm: send the push through the payments service, then its page."""
    values = await _fields(request, "phone", "amount", "description")
    staff = request["staff"]
    try:
        payment = await request.app[CONTAINER_KEY].payments.request_payment(
            values["phone"],
            values["amount"],
            initiator=staff,
            actor=actor_for_telegram(staff.telegram_id),
            description=values["description"] or None,
            via="dashboard",
        )
    except ServiceError as exc:
        errors = {exc.field: str(exc)} if isinstance(exc, InvalidInput) and exc.field else {}
        refusal = None if errors else str(exc)
        return render(
            request, "request.html", status=422, values=values, errors=errors, refusal=refusal
        )
    raise web.HTTPSeeOther(f"{PREFIX}/payments/{payment.id}")


# -- Send money -----------------------------------------------------------------------------


@requires("admin")
async def send_form(request: web.Request) -> web.StreamResponse:
    """GET /send: the empty form, with the approval threshold and today's limit left."""
    return await _send_page(request, values={}, errors={}, refusal=None)


@requires("admin")
async def send_check(request: web.Request) -> web.StreamResponse:
    """POST /check/send: the services' verdict on each field, as JSON (nothing is recorded)."""
    values = await _fields(request, "phone", "amount", "reason")
    services = request.app[CONTAINER_KEY]
    check = services.payouts.check_send(values["phone"], values["amount"], values["reason"])
    threshold = services.settings.payout_approval_threshold
    return web.json_response({"ok": check.ok, "fields": _send_verdicts(check, threshold)})


@requires("admin")
async def send_submit(request: web.Request) -> web.StreamResponse:
    """POST /send: record the payout like /send; its page asks for the Confirm."""
    values = await _fields(request, "phone", "amount", "reason")
    services = request.app[CONTAINER_KEY]
    check = services.payouts.check_send(values["phone"], values["amount"], values["reason"])
    if not check.ok:
        errors = {name: str(error) for name, error in check.errors.items()}
        return await _send_page(request, values=values, errors=errors, refusal=None, status=422)
    try:
        payout = await services.payouts.send_money(
            values["phone"],
            values["amount"],
            initiator_telegram_id=request["staff"].telegram_id,
            reason=values["reason"],
        )
    except ServiceError as exc:
        # Airtel's KYC, or a rule only the service knows: the same words as the chat's
        errors = {exc.field: str(exc)} if isinstance(exc, InvalidInput) and exc.field else {}
        refusal = None if errors else str(exc)
        return await _send_page(request, values=values, errors=errors, refusal=refusal, status=422)
    raise web.HTTPSeeOther(f"{PREFIX}/payouts/{payout.id}")


async def _send_page(
    request: web.Request,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    refusal: str | None,
    status: int = 200,
) -> web.StreamResponse:
    services = request.app[CONTAINER_KEY]
    return render(
        request,
        "send.html",
        status=status,
        values=values,
        errors=errors,
        refusal=refusal,
        threshold=services.settings.payout_approval_threshold,
        left=await services.payouts.limit_left(request["staff"]),
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """The two forms and their checks."""
    router.add_get("/request", request_form, name="request_form")
    router.add_post("/request", request_submit)
    router.add_post("/request/confirm", request_confirm, name="request_confirm")
    router.add_post("/check/request", request_check, name="request_check")
    router.add_get("/send", send_form, name="send_form")
    router.add_post("/send", send_submit)
    router.add_post("/check/send", send_check, name="send_check")
