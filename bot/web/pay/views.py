"""Payment page handlers: read the request, make one CheckoutService call, render a template."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from bot.config import Settings
from bot.i18n import LANGUAGE_NAMES
from bot.i18n import LANGUAGES
from bot.i18n import N_
from bot.i18n import error_text
from bot.i18n import kes
from bot.i18n import negotiate
from bot.i18n import normalize
from bot.i18n import translator
from bot.i18n import when
from bot.services.checkout import Checkout
from bot.services.documents import ReceiptLines
from bot.services.documents import qr_png
from bot.services.documents import receipt_lines
from bot.services.documents import receipt_pdf as render_pdf
from bot.services.documents import receipt_rows
from bot.services.errors import LimitExceeded
from bot.services.errors import NotFound
from bot.services.errors import ServiceError
from bot.web.pay.security import CsrfTokens
from bot.web.pay.security import MissLimiter
from bot.web.pay.security import same_origin
from bot.web.routes import CLIENT_ADDRESS
from bot.web.routes import SERVICES
from models import PaymentStatus
from models import Provider

log = logging.getLogger(__name__)

JINJA_KEY: web.AppKey[Any] = web.AppKey("pay_jinja_env", object)
CSRF: web.AppKey[CsrfTokens] = web.AppKey("pay_csrf", CsrfTokens)
MISSES: web.AppKey[MissLimiter] = web.AppKey("pay_misses", MissLimiter)
SETTINGS: web.AppKey[Settings] = web.AppKey("pay_settings", Settings)
LANGUAGE_COOKIE = "lang"
POLL_MS = 2000
REFRESH_S = 4

FAILED = {
    PaymentStatus.CANCELLED: N_("You cancelled the M-Pesa prompt, so nothing was paid."),
    PaymentStatus.INSUFFICIENT_FUNDS: N_("There was not enough money on M-Pesa for this payment."),
    PaymentStatus.WRONG_PIN: N_("The M-Pesa PIN was wrong, so nothing was paid."),
    PaymentStatus.TIMED_OUT: N_("The prompt timed out before the PIN was entered."),
    PaymentStatus.FAILED: N_("M-Pesa could not complete the payment."),
}
AIRTEL_FAILED = {
    **FAILED,
    PaymentStatus.CANCELLED: N_(
        "The Airtel Money prompt was cancelled or not answered, so nothing was paid."
    ),
    PaymentStatus.INSUFFICIENT_FUNDS: N_(
        "There was not enough money on Airtel Money for this payment."
    ),
    PaymentStatus.WRONG_PIN: N_("The Airtel Money PIN was wrong, so nothing was paid."),
    PaymentStatus.FAILED: N_("Airtel Money could not complete the payment."),
}
EXPIRED_FORM = N_("This form has expired. Please try again.")
OTHER_SITE = N_("This form was sent from another website, so we did not act on it.")
TOO_MANY_MISSES = N_("Too many links that do not exist were opened from your network. Try later.")
NOT_FOUND_TITLE = N_("Order not found")


def _is_airtel(payment: Any) -> bool:
    """True when ``payment`` (or None) is an Airtel Money payment."""
    return payment is not None and payment.provider == Provider.AIRTEL


def _language(request: web.Request) -> str:
    """The page's language: ?lang=, else the lang cookie, else Accept-Language, else default."""
    chosen = normalize(request.query.get("lang")) or normalize(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    default = request.app[SETTINGS].default_language
    return negotiate(request.headers.get("Accept-Language"), default=default)


def _client(request: web.Request) -> str:
    return request.config_dict[CLIENT_ADDRESS](request)


def _checkout(request: web.Request) -> Any:
    return request.config_dict[SERVICES].checkout


def _context(request: web.Request, language: str, **extra: Any) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {
        "_": translator(language),
        "language": language,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "business": settings.business_name,
        "paybill": settings.paybill,
        "airtel_on": settings.airtel_enabled,  # Airtel numbers are taken too
        "kes": kes,
        "when": lambda moment: when(moment, language),
        "static": lambda name: request.app.router["static"].url_for(filename=name),
        "here": request.path,
        **extra,
    }


def _render(
    request: web.Request, template: str, language: str, *, status: int = 200, **extra: Any
) -> web.Response:
    response = aiohttp_jinja2.render_template(
        template, request, _context(request, language, **extra), status=status, app_key=JINJA_KEY
    )
    if normalize(request.query.get("lang")):
        # the visible switch is remembered for this browser
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 86400,
            samesite="Lax",
            httponly=True,
            secure=request.secure,
        )
    response.headers["Content-Language"] = language
    return response


def _page(
    request: web.Request,
    view: Checkout,
    language: str,
    *,
    status: int = 200,
    error: str | None = None,
    phone: str = "",
    email: str = "",
) -> web.Response:
    code = view.order.code
    reason = None
    airtel = view.payment is not None and view.payment.provider == Provider.AIRTEL
    if view.state == "failed" and view.payment is not None:
        reasons = AIRTEL_FAILED if airtel else FAILED
        reason = reasons.get(PaymentStatus(view.payment.status), reasons[PaymentStatus.FAILED])
    return _render(
        request,
        "order.html",
        language,
        status=status,
        view=view,
        order=view.order,
        payment=view.payment,
        state=view.state,
        airtel=airtel,  # the payment shown is Airtel Money's
        reason=reason,
        error=error,
        phone=phone,
        email=email,
        csrf=request.app[CSRF].issue(code),
        poll_ms=POLL_MS,
        refresh_s=REFRESH_S,
        status_url=str(request.app.router["status"].url_for(code=code)),
        retry_url=str(request.app.router["retry"].url_for(code=code)),
        receipt_url=str(request.app.router["receipt"].url_for(code=code)),
        pdf_url=str(request.app.router["receipt_pdf"].url_for(code=code)),
    )


def _not_found(request: web.Request, language: str, exc: ServiceError) -> web.Response:
    misses = request.app[MISSES]
    misses.miss(_client(request))
    _ = translator(language)
    return _render(
        request,
        "message.html",
        language,
        status=404,
        title=_(NOT_FOUND_TITLE),
        message=error_text(exc, language),
    )


def _guessing(request: web.Request, language: str) -> web.Response | None:
    """A 429 page for an address that keeps opening codes that do not exist."""
    if not request.app[MISSES].blocked(_client(request)):
        return None
    _ = translator(language)
    return _render(
        request, "message.html", language, status=429, title="429", message=_(TOO_MANY_MISSES)
    )


async def show(request: web.Request) -> web.Response:
    """GET /pay/{code}: the order and where its payment stands."""
    language = _language(request)
    if (refused := _guessing(request, language)) is not None:
        return refused
    try:
        view = await _checkout(request).view(request.match_info["code"])
    except NotFound as exc:
        return _not_found(request, language, exc)
    return _page(request, view, language)


async def _form(request: web.Request) -> tuple[str, dict[str, str], str | None]:
    """The posted form, its language and why it must be refused (CSRF, origin), if it must."""
    form = {k: str(v) for k, v in (await request.post()).items()}
    language = normalize(form.get("lang")) or _language(request)
    settings = request.app[SETTINGS]
    public_host = urlsplit(settings.public_base_url or "").netloc
    origin_host = request.headers.get("Origin", "").split("://")[-1]
    if not same_origin(request) and origin_host != public_host:
        return language, form, OTHER_SITE
    if not request.app[CSRF].valid(request.match_info["code"], form.get("csrf")):
        return language, form, EXPIRED_FORM
    return language, form, None


async def pay(request: web.Request) -> web.StreamResponse:
    """POST /pay/{code}: send the PIN prompt to the typed number, then show the page (303)."""
    language, form, refused = await _form(request)
    code = request.match_info["code"]
    checkout = _checkout(request)
    phone, email = form.get("phone", "")[:40], form.get("email", "")[:254]
    try:
        if refused is not None:
            view = await checkout.view(code)
            return _page(
                request,
                view,
                language,
                status=403,
                error=translator(language)(refused),
                phone=phone,
                email=email,
            )
        await checkout.pay(
            code, phone, client=_client(request), language=language, email=email or None
        )
    except NotFound as exc:
        return _not_found(request, language, exc)
    except ServiceError as exc:
        view = await checkout.view(code)
        status = 429 if isinstance(exc, LimitExceeded) else 400
        return _page(
            request,
            view,
            language,
            status=status,
            error=error_text(exc, language),
            phone=phone,
            email=email,
        )
    # post/redirect/get: a reload of the page never sends the form again
    raise web.HTTPSeeOther(str(request.app.router["page"].url_for(code=code)))


async def retry(request: web.Request) -> web.StreamResponse:
    """POST /pay/{code}/retry: the [Try again] button (same phone)."""
    language, _form_data, refused = await _form(request)
    code = request.match_info["code"]
    checkout = _checkout(request)
    try:
        if refused is not None:
            view = await checkout.view(code)
            error = translator(language)(refused)
            return _page(request, view, language, status=403, error=error)
        await checkout.retry(code, client=_client(request))
    except NotFound as exc:
        return _not_found(request, language, exc)
    except ServiceError as exc:
        view = await checkout.view(code)
        status = 429 if isinstance(exc, LimitExceeded) else 400
        return _page(request, view, language, status=status, error=error_text(exc, language))
    raise web.HTTPSeeOther(str(request.app.router["page"].url_for(code=code)))


async def status(request: web.Request) -> web.Response:
    """GET /pay/{code}/status: {"state": …} for the page's script (nothing personal)."""
    try:
        view = await _checkout(request).view(request.match_info["code"])
    except NotFound:
        request.app[MISSES].miss(_client(request))
        return web.json_response({"state": "not_found"}, status=404)
    payment_status = view.payment.status if view.payment is not None else None
    return web.json_response({"state": view.state, "payment": payment_status})


def _receipt_lines(request: web.Request, view: Checkout, language: str) -> ReceiptLines:
    settings = request.app[SETTINGS]
    return receipt_lines(
        view.order,
        view.payment,
        business=settings.business_name,
        paybill=settings.paybill,
        language=language,
    )


async def receipt(request: web.Request) -> web.Response:
    """GET /pay/{code}/receipt: a printable receipt of a paid order."""
    language = _language(request)
    try:
        view = await _checkout(request).receipt(request.match_info["code"])
    except NotFound as exc:
        return _not_found(request, language, exc)
    lines = _receipt_lines(request, view, language)
    return _render(
        request,
        "receipt.html",
        language,
        order=view.order,
        airtel=_is_airtel(view.payment),
        rows=receipt_rows(lines, language),
        page_url=str(request.app.router["page"].url_for(code=view.order.code)),
        pdf_url=str(request.app.router["receipt_pdf"].url_for(code=view.order.code)),
    )


# the same lookup as receipt on purpose: two renderings of one receipt, one service call each
async def receipt_pdf(request: web.Request) -> web.Response:
    """GET /pay/{code}/receipt.pdf: the same receipt as a PDF document."""
    language = _language(request)
    try:
        view = await _checkout(request).receipt(request.match_info["code"])
    except NotFound as exc:
        return _not_found(request, language, exc)
    body = render_pdf(_receipt_lines(request, view, language), language)
    name = f"receipt-{view.order.code}.pdf"
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


async def qr(request: web.Request) -> web.Response:
    """GET /pay/{code}/qr.png: the QR code of this page's address (to print or show)."""
    language = _language(request)
    checkout = _checkout(request)
    try:
        view = await checkout.view(request.match_info["code"])
    except NotFound as exc:
        return _not_found(request, language, exc)
    return web.Response(body=qr_png(checkout.pay_url(view.order)), content_type="image/png")
