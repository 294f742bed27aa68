"""The shop REST API under /api/v1: orders, STK payments for them, status, retry and history.

Handlers read the request, make the service calls and render the resources; refusals are
ServiceErrors or ApiErrors that the error middleware turns into the one JSON error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.services.api_keys import UNKNOWN_KEY_ACTOR
from bot.services.api_keys import actor_for_key
from bot.services.api_keys import key_prefix
from bot.services.audit import audit
from bot.services.errors import ServiceError
from bot.services.idempotency import parse_json
from bot.services.providers import provider_code
from bot.services.providers import provider_name
from bot.web.api import batches
from bot.web.api.errors import ApiError
from bot.web.api.errors import Handler
from bot.web.api.errors import error_response
from bot.web.api.errors import from_service_error
from bot.web.api.errors import json_errors
from bot.web.api.idempotency import idempotency_middleware
from bot.web.api.openapi import openapi_document
from bot.web.api.ratelimit import AuthThrottle
from bot.web.api.ratelimit import RateLimiter
from bot.web.api.ratelimit import retry_after_header
from bot.web.api.resources import decode_cursor
from bot.web.api.resources import email_field
from bot.web.api.resources import encode_cursor
from bot.web.api.resources import invalid
from bot.web.api.resources import limit_param
from bot.web.api.resources import moment
from bot.web.api.resources import order_id
from bot.web.api.resources import order_resource
from bot.web.api.resources import payment_methods
from bot.web.api.resources import payment_resource
from bot.web.api.resources import phone_route
from bot.web.api.resources import text_field
from bot.web.api.resources import whole_shillings
from bot.web.limits import bulk_body_size
from bot.web.routes import CLIENT_ADDRESS
from bot.web.routes import SERVICES
from models import ApiKey
from models import Order
from models import Payment
from models import PaymentStatus

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPENAPI_ROUTE = "openapi"
BATCH_CREATE = "batches.create"

# the bot's @username for deep links: a str, or a callable asked per request (set once PTB knows it)
BOT_USERNAME: web.AppKey[Any] = web.AppKey("bot_username", object)
SETTINGS: web.AppKey[Settings] = web.AppKey("api_settings", Settings)
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("api_rate_limiter", RateLimiter)
AUTH_THROTTLE: web.AppKey[AuthThrottle] = web.AppKey("api_auth_throttle", AuthThrottle)
API_KEY: web.RequestKey[ApiKey] = web.RequestKey("api_key", ApiKey)
AUDIT_SUBJECT: web.RequestKey[str] = web.RequestKey("api_audit_subject", str)

HISTORY_PARAMS = ("status", "phone", "from", "to", "limit", "cursor")
# the query parameters each operation takes; any other is refused
QUERY_PARAMS = {"payments.history": HISTORY_PARAMS}
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="mpesa-bot"'}


def register_api(
    app: web.Application,
    *,
    settings: Settings,
    bot_username: str | Callable[[], str | None] | None = None,
    rate_limiter: RateLimiter | None = None,
) -> web.Application:
    """Mount the API at /api/v1 of ``app`` (its SERVICES need .orders, .payments, .api_keys)."""
    api = web.Application(
        middlewares=[
            bulk_body_size(settings, BATCH_CREATE),
            json_errors,
            authenticate,
            idempotency_middleware(lambda r: _services(r).idempotency, lambda r: r[API_KEY].id),
            json_errors,  # inside too: idempotency and audit see refusals as responses
            known_query,
        ]
    )
    api[SETTINGS] = settings
    api[RATE_LIMITER] = rate_limiter or RateLimiter(settings.api_rate_limit_per_minute)
    api[AUTH_THROTTLE] = AuthThrottle(settings.api_auth_failures_per_minute)
    app.on_shutdown.append(_flush_auth_failures)
    if bot_username is not None:
        app[BOT_USERNAME] = bot_username
    # no automatic HEAD routes: every method served is a documented, named operation
    api.router.add_get("/openapi.json", openapi, name=OPENAPI_ROUTE, allow_head=False)
    api.router.add_post("/orders", create_order, name="orders.create")
    api.router.add_post("/payments/initiate", initiate_payment, name="payments.initiate")
    api.router.add_get(
        "/payments/status/{orderId}", payment_status, name="payments.status", allow_head=False
    )
    api.router.add_post("/payments/retry/{orderId}", retry_payment, name="payments.retry")
    api.router.add_get(
        "/payments/history", payment_history, name="payments.history", allow_head=False
    )
    api.router.add_post("/payout-batches", create_payout_batch, name=BATCH_CREATE)
    api.router.add_get(
        "/payout-batches/{batchId}", get_payout_batch, name="batches.get", allow_head=False
    )
    api.router.add_post("/schedules", create_schedule, name="schedules.create")
    api.router.add_get("/schedules", list_schedules, name="schedules.list", allow_head=False)
    api.router.add_get(
        "/schedules/{scheduleId}", get_schedule, name="schedules.get", allow_head=False
    )
    api.router.add_post("/schedules/{scheduleId}/cancel", cancel_schedule, name="schedules.cancel")
    app.add_subapp(API_PREFIX, api)
    return api


async def _flush_auth_failures(app: web.Application) -> None:
    """At shutdown (the database still open): audit the failed authentications counted so far."""
    api_keys = getattr(app.get(SERVICES), "api_keys", None)
    if api_keys is not None:
        await api_keys.flush_failures(everything=True)


# -- middleware ---------------------------------------------------------------------------------


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a valid bearer key (except for the OpenAPI document), rate-limit and audit it."""
    route = request.match_info.route.name
    if request.match_info.http_exception is not None or route == OPENAPI_ROUTE:
        return await handler(request)  # unknown paths answer 404/405 without looking at keys
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    address = request.config_dict[CLIENT_ADDRESS](request)
    prefix = key_prefix(token)
    throttle = request.config_dict[AUTH_THROTTLE]
    wait_s = throttle.wait_s(address, prefix)
    if wait_s > 0:
        # refused before any lookup: a guessing client costs nothing and learns nothing
        _services(request).api_keys.failures.note(
            UNKNOWN_KEY_ACTOR, prefix or "-", address, "throttled"
        )
        raise ApiError(
            429,
            "rate_limited",
            "Too many failed authentications from this address or for this key; "
            f"wait {retry_after_header(wait_s)} s.",
            headers={"Retry-After": retry_after_header(wait_s)},
        )
    if not token:
        throttle.failed(address, None)
        raise ApiError(
            401,
            "unauthorized",
            "Send your API key as 'Authorization: Bearer <key>'.",
            headers=UNAUTHORIZED_HEADERS,
        )
    key = await _services(request).api_keys.authenticate(token, address=address)
    if key is None:
        throttle.failed(address, prefix)
        log.info("api.auth_refused path=%s address=%s", request.path, address)
        raise ApiError(
            401, "unauthorized", "The API key is wrong or revoked.", headers=UNAUTHORIZED_HEADERS
        )
    wait_s = request.config_dict[RATE_LIMITER].acquire(key.id)
    if wait_s > 0:
        # logged, not audited: a runaway client would otherwise fill the audit table
        log.warning("api.rate_limited key=%s path=%s", key.name, request.path)
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests for this API key; wait {retry_after_header(wait_s)} s.",
            headers={"Retry-After": retry_after_header(wait_s)},
        )
    request[API_KEY] = key
    try:
        response = await handler(request)
    except ApiError as exc:  # e.g. an Idempotency-Key refusal: audited like any other answer
        response = error_response(exc)
    except ServiceError as exc:
        response = error_response(from_service_error(exc))
    await audit(
        actor_for_key(key),
        f"api.{route}",
        subject=request.get(AUDIT_SUBJECT, ""),
        outcome="ok" if response.status < 400 else f"http_{response.status}",
        method=request.method,
        path=request.path[:200],
        status=response.status,
    )
    return response


@web.middleware
async def known_query(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse query parameters the operation does not take (a typo must not filter nothing)."""
    if request.match_info.http_exception is None:
        allowed = QUERY_PARAMS.get(request.match_info.route.name, ())
        unknown = sorted(name for name in request.rel_url.query if name not in allowed)
        if unknown:
            takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
            raise invalid(
                f"Unknown query parameter {unknown[0][:40]!r}; {takes}.", field=unknown[0][:40]
            )
    return await handler(request)


# -- handlers -----------------------------------------------------------------------------------


async def openapi(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: the OpenAPI 3 document of this API."""
    return web.json_response(openapi_document(request.config_dict[SETTINGS]))


async def create_order(request: web.Request) -> web.Response:
    """POST /api/v1/orders: open an order; answer it with its code and deep link (201)."""
    body = await json_object(request)
    if "amount" not in body:
        raise invalid("amount is required.", field="amount")
    amount = whole_shillings(body["amount"])
    description = text_field(body, "description", limit=255) or ""
    reference = text_field(body, "reference", limit=64, required=False)
    actor = _actor(request)
    order = await _services(request).orders.create_order(
        amount, description, created_by=None, actor=actor, reference=reference, via=actor
    )
    request[AUDIT_SUBJECT] = f"order:{order.id}"
    resource = order_resource(order, deep_link=_deep_link(request, order), payment=None)
    return web.json_response(resource, status=201)


async def initiate_payment(request: web.Request) -> web.Response:
    """POST /api/v1/payments/initiate: send an STK Push for an order's amount (201)."""
    body = await json_object(request)
    code = order_id(body.get("orderId"))
    method = body.get("paymentMethod")
    settings = request.config_dict[SETTINGS]
    methods = payment_methods(settings)
    if method not in methods:
        raise invalid(f"paymentMethod must be one of {', '.join(methods)}.", field="paymentMethod")
    raw_phone = body.get("phoneNumber")
    routed = phone_route(raw_phone, "phoneNumber", settings=settings)
    if provider_code(routed.provider) != method:
        # the customer pays with the network of their number: the method must say the same
        raise invalid(
            f"{raw_phone} is a number of {provider_name(routed.provider)}: send paymentMethod "
            f"{provider_code(routed.provider)}, or a number for {method}.",
            field="phoneNumber",
        )
    email = email_field(body)
    actor = _actor(request)
    order = await _services(request).orders.get_by_code(code)
    request[AUDIT_SUBJECT] = f"order:{order.id}"
    order, payment = await _services(request).order_payments.start_for_order(
        order, raw_phone, actor=actor, via=actor, email=email
    )
    return _payment_answer(payment, order)


async def payment_status(request: web.Request) -> web.Response:
    """GET /api/v1/payments/status/{orderId}: the order and its latest payment attempt."""
    order, payment = await _services(request).order_payments.status(_order_code(request))
    request[AUDIT_SUBJECT] = f"order:{order.id}"
    resource = order_resource(order, deep_link=_deep_link(request, order), payment=payment)
    return web.json_response(resource)


async def retry_payment(request: web.Request) -> web.Response:
    """POST /api/v1/payments/retry/{orderId}: send the last failed attempt again (201)."""
    order = await _services(request).orders.get_by_code(_order_code(request))
    request[AUDIT_SUBJECT] = f"order:{order.id}"
    order, payment = await _services(request).order_payments.retry_for_order(
        order, actor=_actor(request)
    )
    return _payment_answer(payment, order)


async def payment_history(request: web.Request) -> web.Response:
    """GET /api/v1/payments/history: payments newest first, filtered, a page at a time."""
    params = request.rel_url.query
    for name in HISTORY_PARAMS:
        if params.get(name) == "":
            raise invalid(f"{name} is empty; leave it out to not filter by it.", field=name)
    status = None
    if "status" in params:
        try:
            status = PaymentStatus(params["status"])
        except ValueError:
            known = ", ".join(s.value for s in PaymentStatus)
            raise invalid(f"status must be one of {known}.", field="status") from None
    msisdn = None
    if "phone" in params:
        settings = request.config_dict[SETTINGS]
        msisdn = phone_route(params["phone"], "phone", settings=settings).msisdn
    start = moment(params["from"], "from") if "from" in params else None
    end = moment(params["to"], "to") if "to" in params else None
    before_id = decode_cursor(params["cursor"]) if "cursor" in params else None
    page = await _services(request).reports.payment_page(
        status=status,
        msisdn=msisdn,
        start=start,
        end=end,
        before_id=before_id,
        limit=limit_param(params.get("limit")),
    )
    data = [payment_resource(p, page.order_codes.get(p.order_id or 0)) for p in page.payments]
    cursor = encode_cursor(page.next_before_id) if page.next_before_id is not None else None
    return web.json_response({"data": data, "nextCursor": cursor})


async def create_payout_batch(request: web.Request) -> web.Response:
    """POST /api/v1/payout-batches: rows (JSON) or a file (multipart); waits for an admin."""
    body = None if batches.is_multipart(request) else await json_object(request)
    batch, response = await batches.create_batch(request, _services(request), _actor(request), body)
    request[AUDIT_SUBJECT] = f"batch:{batch.id}"
    return response


async def get_payout_batch(request: web.Request) -> web.Response:
    """GET /api/v1/payout-batches/{batchId}: status, counts and every row's state."""
    batch, response = await batches.batch_status(_services(request), request.match_info["batchId"])
    request[AUDIT_SUBJECT] = f"batch:{batch.id}"
    return response


async def create_schedule(request: web.Request) -> web.Response:
    """POST /api/v1/schedules: a scheduled payout (waits for an admin) or payment request."""
    body = await json_object(request)
    schedule = await batches.create_schedule(_services(request), _actor(request), body)
    request[AUDIT_SUBJECT] = f"schedule:{schedule.id}"
    return web.json_response(batches.schedule_resource(schedule), status=201)


async def list_schedules(request: web.Request) -> web.Response:
    """GET /api/v1/schedules: schedules not finished, next due first."""
    schedules = await _services(request).schedules.active(limit=100)
    return web.json_response({"data": [batches.schedule_resource(s) for s in schedules]})


async def get_schedule(request: web.Request) -> web.Response:
    """GET /api/v1/schedules/{scheduleId}: a schedule and its latest occurrences."""
    schedule_id = batches.schedule_id(request.match_info["scheduleId"])
    services = _services(request)
    schedule = await services.schedules.get(schedule_id)
    request[AUDIT_SUBJECT] = f"schedule:{schedule.id}"
    history = await services.schedules.history(schedule.id)
    return web.json_response(batches.schedule_resource(schedule, list(history)))


async def cancel_schedule(request: web.Request) -> web.Response:
    """POST /api/v1/schedules/{scheduleId}/cancel: stop a schedule made through the API.

    Nothing more falls due (an occurrence already started still settles); cancelling one that
    is already over (finished, cancelled or rejected) is 409, so a repeated call is 409 too.
    """
    schedule_id = batches.schedule_id(request.match_info["scheduleId"])
    request[AUDIT_SUBJECT] = f"schedule:{schedule_id}"
    services = _services(request)
    schedule = await services.schedules.cancel_from_api(schedule_id, actor=_actor(request))
    history = await services.schedules.history(schedule.id)
    return web.json_response(batches.schedule_resource(schedule, list(history)))


# -- helpers ------------------------------------------------------------------------------------


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 (code invalid_json) otherwise."""
    raw = await request.read()
    try:
        body = parse_json(raw)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return body


def _order_code(request: web.Request) -> str:
    return order_id(request.match_info["orderId"])


def _payment_answer(payment: Payment, order: Order) -> web.Response:
    """201 with the payment, or 502 when M-Pesa refused the push (nothing reached the phone)."""
    if payment.status == PaymentStatus.FAILED:
        raise ApiError(
            502,
            "upstream_refused",
            f"M-Pesa refused the payment request: {payment.result_desc or 'no reason given'}. "
            f"Nothing was sent to the phone; retry with /payments/retry/{order.code}.",
        )
    return web.json_response(payment_resource(payment, order.code), status=201)


def _deep_link(request: web.Request, order: Order) -> str | None:
    """The t.me link that opens the bot on this order, or None while the bot's name is unknown."""
    username = request.config_dict.get(BOT_USERNAME)
    if username is None:
        username = getattr(request.config_dict[SERVICES], "bot_username", None)
    if callable(username):
        username = username()
    if not username:
        return None
    return _services(request).orders.deep_link(order, username)


def _services(request: web.Request) -> Any:
    return request.config_dict[SERVICES]


def _actor(request: web.Request) -> str:
    return actor_for_key(request[API_KEY])
