"""One JSON error shape for the whole API: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.services.errors import Conflict
from bot.services.errors import InvalidInput
from bot.services.errors import LimitExceeded
from bot.services.errors import NotAllowed
from bot.services.errors import NotFound
from bot.services.errors import PaymentInProgress
from bot.services.errors import ServiceError
from bot.services.errors import UpstreamError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# a ServiceError's HTTP status, by class (the first match wins)
SERVICE_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (InvalidInput, 400),
    (NotAllowed, 403),
    (NotFound, 404),
    (Conflict, 409),
    (LimitExceeded, 422),
    (UpstreamError, 502),
)

# the code for aiohttp's own refusals (unknown path, wrong method, body too large)
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

# service field names that the API calls differently
API_FIELDS = {"phone": "phoneNumber", "ref": "orderId"}


class ApiError(Exception):
    """A refusal answered as JSON: HTTP status, stable code, message, optional field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        payment_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.payment_id = payment_id


def error_body(
    code: str, message: str, field: str | None = None, *, payment_id: int | None = None
) -> dict[str, Any]:
    """The error document: ``{"error": {"code", "message", "field"?, "paymentId"?}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if payment_id is not None:
        error["paymentId"] = payment_id
    return {"error": error}


def error_response(exc: ApiError) -> web.Response:
    """The JSON response for an ApiError."""
    body = error_body(exc.code, exc.message, exc.field, payment_id=exc.payment_id)
    return web.json_response(body, status=exc.status, headers=exc.headers)


def from_service_error(exc: ServiceError) -> ApiError:
    """The ApiError for a service's refusal (InvalidInput 400, NotFound 404, Conflict 409, ...)."""
    status = next((code for cls, code in SERVICE_STATUS if isinstance(exc, cls)), 400)
    field = API_FIELDS.get(exc.field, exc.field) if exc.field else None
    payment_id = exc.payment_id if isinstance(exc, PaymentInProgress) else None
    return ApiError(status, exc.code, exc.message, field=field, payment_id=payment_id)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal and crash under the API into the one JSON error shape."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except ServiceError as exc:
        return error_response(from_service_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "http_error")
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(ApiError(exc.status, code, exc.reason, headers=headers))
    except Exception:
        reference = secrets.token_hex(4)
        log.exception(
            "api.crashed method=%s path=%s ref=%s", request.method, request.path, reference
        )
        return error_response(
            ApiError(
                500, "internal_error", f"Something went wrong on our side (reference {reference})."
            )
        )
