"""The OpenAPI 3.1 document of /api/v1: exactly what the server accepts (tests fuzz it).

Patterns come from bot.web.api.grammar, the same ones the server matches; the phone pattern and
the amount limit follow the settings (MPESA_EXTRA_PREFIXES, MPESA_MAX_AMOUNT).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from bot.config import Settings
from bot.services.order_payments import EMAIL_LIMIT
from bot.services.order_payments import EMAIL_PATTERN
from bot.web.api import grammar
from bot.web.api.idempotency import KEY_LIMIT
from bot.web.api.idempotency import KEY_PATTERN
from bot.web.api.resources import DESCRIPTION_LIMIT
from bot.web.api.resources import HISTORY_MAX_LIMIT
from bot.web.api.resources import ORDER_ID_LIMIT
from bot.web.api.resources import REFERENCE_LIMIT
from models import BatchStatus
from models import OccurrenceStatus
from models import OrderStatus
from models import PaymentStatus
from models import ScheduleStatus
from mpesa.amounts import DEFAULT_MAXIMUM
from mpesa.amounts import STK_MINIMUM

MOMENT_DESCRIPTION = (
    "A date (2026-11-20: its midnight) or a date-time to the minute, second or microsecond "
    "(2026-11-20T08:00, 2026-11-20T08:00:00.5+03:00, 2026-11-20T05:00:00Z); without an offset "
    "it is Nairobi time. Years 1900 to 2999."
)

API_VERSION = "1.0.0"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema_type: str, **extra: Any) -> dict[str, Any]:
    return {"type": [schema_type, "null"], **extra}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


ERRORS = {
    "400": _error("Invalid input; `error.field` names the request field."),
    "401": {
        **_error("Missing, wrong or revoked API key."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "404": _error("No order has this orderId."),
    "409": _error(
        "Conflict with the order's state: `already_paid`, `payment_in_progress`, "
        "`order_cancelled`, `nothing_to_retry`, or an Idempotency-Key reused with another body "
        "(`idempotency_key_reused`) or still running (`idempotency_in_progress`)."
    ),
    "422": _error("A limit would be exceeded."),
    "429": {
        **_error("This API key sent too many requests; wait Retry-After seconds."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
    "502": _error(
        "M-Pesa refused the request (`upstream_refused`) or could not be reached; nothing was "
        "sent to the phone. The attempt is recorded as failed and can be retried."
    ),
    "default": _error("Any other error, in the same shape."),
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        f"Any unique string of 1 to {KEY_LIMIT} visible ASCII characters (spaces allowed "
        "inside). The same key and body (JSON compared whatever its key order and spacing) "
        "answer the first response again (header Idempotent-Replayed: true); the same key with "
        "another body is 409 idempotency_key_reused; while the first request may still be "
        "running, 409 idempotency_in_progress."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_LIMIT, "pattern": KEY_PATTERN},
}

ORDER_ID = {
    "type": "string",
    "maxLength": ORDER_ID_LIMIT,
    "pattern": grammar.NON_BLANK_PATTERN,
    "description": "The order's code, e.g. HP7K2Q9XAB (case and spaces ignored).",
    "examples": ["HP7K2Q9XAB"],
}
ORDER_ID_PATH = {
    "name": "orderId",
    "in": "path",
    "required": True,
    "description": "The order's code, e.g. HP7K2Q9XAB.",
    "schema": ORDER_ID,
}

PHONE = {
    "type": "string",
    "pattern": "",  # grammar.phone_pattern(MPESA_EXTRA_PREFIXES), filled in per server
    "description": (
        "A Safaricom number written 0712345678, 712345678, 254712345678 or +254712345678 "
        "(the pattern lists Safaricom's ranges; MPESA_EXTRA_PREFIXES adds to them)."
    ),
    "examples": ["0712345678"],
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["invalid_input"]},
                    "message": {"type": "string"},
                    "field": {"type": "string", "examples": ["phoneNumber"]},
                    "paymentId": {
                        "type": "integer",
                        "description": "With payment_in_progress: the attempt that is waiting.",
                    },
                },
            }
        },
    },
    "CreateOrder": {
        "type": "object",
        "required": ["amount", "description"],
        "properties": {
            "amount": {
                "type": "integer",
                "minimum": STK_MINIMUM,
                "maximum": DEFAULT_MAXIMUM,  # MPESA_MAX_AMOUNT, filled in per server
                "description": (
                    'Whole Kenyan shillings as a JSON integer (1.5, 1500.0 or "150" are 400), '
                    "at most MPESA_MAX_AMOUNT."
                ),
                "examples": [1500],
            },
            "description": {
                "type": "string",
                "maxLength": DESCRIPTION_LIMIT,
                "pattern": grammar.TEXT_PATTERN,
                "description": "What the customer sees (no control characters).",
                "examples": ["2 x cooking oil"],
            },
            "reference": {
                **_nullable("string", maxLength=REFERENCE_LIMIT, pattern=grammar.TEXT_PATTERN),
                "description": (
                    "Your own unique id for the order (optional; blank is none); a reference "
                    "already used is 409 conflict."
                ),
                "examples": ["SHOP-1043"],
            },
        },
    },
    "InitiatePayment": {
        "type": "object",
        "required": ["orderId", "paymentMethod", "phoneNumber"],
        "properties": {
            "orderId": ORDER_ID,
            "paymentMethod": {"type": "string", "enum": ["MPESA"]},  # AIRTEL when enabled
            "phoneNumber": PHONE,
            "email": _nullable(
                "string",
                maxLength=EMAIL_LIMIT,
                pattern=EMAIL_PATTERN,
                description=(
                    "Optional: where the receipt e-mail (with its PDF) goes once the order is "
                    "paid, in the customer's language. Absent or null: no e-mail."
                ),
                examples=["wanjiku@example.co.ke"],
            ),
        },
    },
    "Payment": {
        "type": "object",
        "required": ["paymentId", "orderId", "paymentMethod", "status", "amount", "phoneNumber"],
        "properties": {
            "paymentId": {"type": "integer"},
            "orderId": _nullable("string"),
            # AIRTEL: Airtel Money (a payment made while AIRTEL_ENABLED was on)
            "paymentMethod": {"type": "string", "enum": ["MPESA", "AIRTEL"]},
            "status": {
                "type": "string",
                "enum": [status.value for status in PaymentStatus],
                "description": (
                    "created: recorded, M-Pesa has not acknowledged it yet; pending: the phone "
                    "shows the PIN prompt; unknown: M-Pesa did not answer, we are checking (do "
                    "not retry); review: paid, but amount or phone differ."
                ),
            },
            "amount": {"type": "integer", "description": "Whole shillings."},
            "phoneNumber": {"type": "string", "description": "Masked: 2547****149."},
            "attempt": {"type": "integer"},
            "checkoutRequestId": _nullable("string"),
            "receipt": _nullable("string", description="The M-Pesa receipt once paid."),
            "resultCode": _nullable("string"),
            "resultDesc": _nullable("string"),
            "createdAt": _nullable("string", format="date-time"),
            "paidAt": _nullable("string", format="date-time"),
        },
    },
    "Order": {
        "type": "object",
        "required": ["orderId", "amount", "status", "paid", "deepLink", "payment"],
        "properties": {
            "orderId": {"type": "string", "examples": ["HP7K2Q9XAB"]},
            "reference": _nullable("string"),
            "amount": {"type": "integer", "description": "Whole shillings."},
            "description": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in OrderStatus]},
            "paid": {"type": "boolean"},
            "receipt": _nullable("string"),
            "paidAt": _nullable("string", format="date-time"),
            "createdAt": _nullable("string", format="date-time"),
            "deepLink": {
                **_nullable("string"),
                "description": "t.me link that opens the bot on this order (null until known).",
            },
            "payment": {
                "anyOf": [_ref("Payment"), {"type": "null"}],
                "description": "The latest payment attempt, if any.",
            },
        },
    },
    "PaymentPage": {
        "type": "object",
        "required": ["data", "nextCursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("Payment")},
            "nextCursor": {
                **_nullable("string"),
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    },
}


def _post(summary: str, op_id: str, request: str | None, ok: dict, codes: list[str]) -> dict:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": op_id,
        "parameters": [IDEMPOTENCY_KEY],
        "responses": {"201": ok, **{code: ERRORS[code] for code in [*codes, "default"]}},
    }
    if request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(request)}},
        }
    return operation


PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "getOpenApi",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/orders": {
        "post": _post(
            "Create an order",
            "createOrder",
            "CreateOrder",
            _ok("The order, with its code and deep link.", "Order"),
            ["400", "401", "409", "422", "429"],
        )
    },
    "/payments/initiate": {
        "post": _post(
            "Send an STK Push for an order",
            "initiatePayment",
            "InitiatePayment",
            _ok("The payment attempt (pending, or unknown while we check).", "Payment"),
            ["400", "401", "404", "409", "422", "429", "502"],
        )
    },
    "/payments/status/{orderId}": {
        "parameters": [ORDER_ID_PATH],
        "get": {
            "summary": "Where an order's payment stands",
            "operationId": "getPaymentStatus",
            "responses": {
                "200": _ok("The order and its latest payment attempt.", "Order"),
                **{code: ERRORS[code] for code in ["400", "401", "404", "429", "default"]},
            },
        },
    },
    "/payments/retry/{orderId}": {
        "parameters": [ORDER_ID_PATH],
        "post": _post(
            "Send a failed, cancelled or timed-out payment again",
            "retryPayment",
            None,
            _ok("The new payment attempt.", "Payment"),
            ["400", "401", "404", "409", "422", "429", "502"],
        ),
    },
    "/payments/history": {
        "get": {
            "summary": "Payments, newest first",
            "operationId": "listPayments",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": SCHEMAS["Payment"]["properties"]["status"],
                },
                {
                    "name": "phone",
                    "in": "query",
                    "description": "Only payments from this phone.",
                    "schema": PHONE,
                },
                {
                    "name": "from",
                    "in": "query",
                    "description": f"Created at or after this. {MOMENT_DESCRIPTION}",
                    "schema": {"type": "string", "pattern": grammar.MOMENT_PATTERN},
                },
                {
                    "name": "to",
                    "in": "query",
                    "description": (
                        f"Created before this (exclusive; after `from` gives an empty page). "
                        f"{MOMENT_DESCRIPTION}"
                    ),
                    "schema": {"type": "string", "pattern": grammar.MOMENT_PATTERN},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": HISTORY_MAX_LIMIT,
                        "default": 20,
                    },
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "description": "nextCursor of the previous page.",
                    "schema": {"type": "string", "pattern": grammar.CURSOR_PATTERN},
                },
            ],
            "responses": {
                "200": _ok("A page of payments.", "PaymentPage"),
                **{code: ERRORS[code] for code in ["400", "401", "429", "default"]},
            },
        }
    },
}

COUNTS = {
    "type": "object",
    "description": "Rows by where they stand; paidAmount in whole shillings.",
    "properties": {
        name: {"type": "integer"}
        for name in (
            "rows",
            "valid",
            "rejected",
            "queued",
            "sending",
            "submitted",
            "completed",
            "failed",
            "unknown",
            "cancelled",
            "paidAmount",
        )
    },
}
BATCH_ROW_STATES = [
    "rejected",
    "queued",
    "cancelled",
    "sending",
    "submitted",
    "unknown",
    "completed",
    "failed",
    "rejected_by_approver",
    "awaiting_approval",
    "awaiting_confirmation",
]
SCHEMAS["CreatePayoutBatch"] = {
    "type": "object",
    "required": ["rows"],
    "additionalProperties": False,
    "properties": {
        "rows": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5000,  # BULK_MAX_ROWS, filled in per server
            "description": (
                "One object per payout: phone (as people write it), amount (whole shillings as a "
                "JSON integer), optional name and reference (the M-Pesa remarks; else the "
                "description). A row that breaks a rule of /send is not refused here: it comes "
                "back in `rejected` with its line (its position from 1) and reason."
            ),
            "items": {
                "type": "object",
                "properties": {
                    "phone": {"description": "e.g. 0712345678"},
                    "amount": {"description": "Whole shillings as a JSON integer, e.g. 1500."},
                    "name": {"description": "The recipient's name (compared with M-Pesa's)."},
                    "reference": {"description": "Sent to M-Pesa as the payout's remarks."},
                },
            },
        },
        "description": {
            **_nullable("string"),
            "description": "What the batch is for (the remarks of rows without a reference).",
        },
    },
}
SCHEMAS["PayoutBatch"] = {
    "type": "object",
    "required": ["batchId", "status", "totalAmount", "counts"],
    "properties": {
        "batchId": {"type": "integer"},
        "status": {
            "type": "string",
            "enum": [status.value for status in BatchStatus],
            "description": (
                "awaiting_confirmation: an admin must press Confirm in the chat (an API key never "
                "releases money); awaiting_approval: a second admin must approve; sending; "
                "paused; cancelled; rejected; completed: every row settled."
            ),
        },
        "description": {"type": "string"},
        "source": {"type": "string"},
        "totalAmount": {"type": "integer", "description": "Of the valid rows, whole shillings."},
        "needsApproval": {"type": "boolean"},
        "counts": COUNTS,
        "createdAt": _nullable("string", format="date-time"),
        "confirmedAt": _nullable("string", format="date-time"),
        "settledAt": _nullable("string", format="date-time"),
        "sameAsBatchId": {
            **_nullable("integer"),
            "description": "An earlier batch with exactly the same rows (a repeated upload).",
        },
        "rejected": {
            "type": "array",
            "description": "The rows validation refused (on creation).",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "phone": {"type": "string"},
                    "amount": {"type": "string"},
                    "name": {"type": "string"},
                    "reference": {"type": "string"},
                    "reason": _nullable("string"),
                },
            },
        },
        "rows": {
            "type": "array",
            "description": "Every row and its state (on GET).",
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "phoneNumber": _nullable("string", description="Masked: 2547****149."),
                    "amount": _nullable("integer"),
                    "name": {"type": "string"},
                    "reference": {"type": "string"},
                    "status": {"type": "string"},
                    "error": _nullable("string"),
                    "payoutId": _nullable("integer"),
                    "receipt": _nullable("string"),
                    "recipientName": _nullable("string"),
                    "nameCheck": {
                        "type": "string",
                        "enum": ["", "ok", "differs"],
                        "description": (
                            "differs: M-Pesa's recipient name shares no word with the file's."
                        ),
                    },
                    "resultDesc": _nullable("string"),
                },
            },
        },
    },
}
SCHEMAS["CreateSchedule"] = {
    "type": "object",
    "required": ["kind", "phoneNumber", "amount", "frequency", "start", "at"],
    "additionalProperties": False,
    "properties": {
        "kind": {
            "type": "string",
            "enum": ["payout", "payment_request"],
            "description": (
                "payout: waits for an admin's Confirm in the chat (and approval above "
                "PAYOUT_APPROVAL_THRESHOLD); payment_request: an STK Push on the calendar, "
                "active at once, the customer told by SMS beforehand."
            ),
        },
        "phoneNumber": PHONE,
        "amount": {
            "type": "integer",
            "minimum": 1,
            "maximum": DEFAULT_MAXIMUM,
            "description": "Whole shillings each occurrence (a payout's B2C minimum applies).",
        },
        "description": {"type": "string", "maxLength": 100},
        "name": {"type": "string", "maxLength": 128},
        "frequency": {"type": "string", "enum": ["once", "daily", "weekly", "monthly"]},
        "start": {
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "The first Nairobi day (for once: the day itself).",
        },
        "at": {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
            "description": "Nairobi time of day.",
        },
        "weekdays": {
            "type": "array",
            "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
            "description": "Weekly only.",
        },
        "monthDay": {
            "type": "integer",
            "minimum": 1,
            "maximum": 31,
            "description": "Monthly only.",
        },
        "until": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "count": {"type": "integer", "minimum": 1},
    },
}
SCHEMAS["Schedule"] = {
    "type": "object",
    "required": ["scheduleId", "kind", "status", "amount", "rule"],
    "properties": {
        "scheduleId": {"type": "integer"},
        "kind": {"type": "string", "enum": ["payout", "payment_request"]},
        "status": {"type": "string", "enum": [status.value for status in ScheduleStatus]},
        "phoneNumber": {"type": "string", "description": "Masked."},
        "amount": {"type": "integer"},
        "description": {"type": "string"},
        "name": {"type": "string"},
        "rule": {"type": "string", "examples": ["every Friday at 17:00"]},
        "nextDueAt": _nullable("string", format="date-time"),
        "occurrenceCount": {"type": "integer"},
        "needsApproval": {"type": "boolean"},
        "occurrences": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "occurrenceId": {"type": "integer"},
                    "dueAt": {"type": "string", "format": "date-time"},
                    "number": {"type": "integer"},
                    "status": {
                        "type": "string",
                        "enum": [status.value for status in OccurrenceStatus],
                    },
                    "payoutId": _nullable("integer"),
                    "paymentId": _nullable("integer"),
                    "note": {"type": "string"},
                },
            },
        },
    },
}
SCHEMAS["SchedulePage"] = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": _ref("Schedule")}},
}


def _not_found(what: str) -> dict[str, Any]:
    return _error(f"No {what} has this id.")


PATHS["/payout-batches"] = {
    "post": {
        **_post(
            "Create a bulk payout batch (it waits for an admin's Confirm in the chat)",
            "createPayoutBatch",
            "CreatePayoutBatch",
            _ok("The batch, its counts and the rows validation refused.", "PayoutBatch"),
            ["400", "401", "409", "422", "429"],
        ),
        "description": (
            "Also takes multipart/form-data with a `file` part (a CSV or XLSX list, at most "
            "BULK_MAX_FILE_BYTES and BULK_MAX_ROWS rows) and an optional `description` part; "
            "the answer is the same. Nothing is paid until an admin confirms the batch in the "
            "chat (the bot posts its summary to them) and, at or above "
            "PAYOUT_APPROVAL_THRESHOLD, a second admin approves it. The webhook "
            "payout_batch.completed tells when every row settled."
        ),
    }
}
PATHS["/payout-batches/{batchId}"] = {
    "parameters": [
        {
            "name": "batchId",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
        }
    ],
    "get": {
        "summary": "A batch: status, counts and every row's state",
        "operationId": "getPayoutBatch",
        "responses": {
            "200": _ok("The batch with its rows.", "PayoutBatch"),
            "404": _not_found("batch"),
            **{code: ERRORS[code] for code in ["400", "401", "429", "default"]},
        },
    },
}
PATHS["/schedules"] = {
    "post": _post(
        "Schedule a payout or a payment request on a calendar (Nairobi time)",
        "createSchedule",
        "CreateSchedule",
        _ok("The schedule.", "Schedule"),
        ["400", "401", "409", "422", "429"],
    ),
    "get": {
        "summary": "Schedules not finished, next due first",
        "operationId": "listSchedules",
        "responses": {
            "200": _ok("Up to 100 schedules.", "SchedulePage"),
            **{code: ERRORS[code] for code in ["400", "401", "429", "default"]},
        },
    },
}
PATHS["/schedules/{scheduleId}"] = {
    "parameters": [
        {
            "name": "scheduleId",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999},
        }
    ],
    "get": {
        "summary": "A schedule and its latest occurrences",
        "operationId": "getSchedule",
        "responses": {
            "200": _ok("The schedule and its history.", "Schedule"),
            "404": _not_found("schedule"),
            **{code: ERRORS[code] for code in ["400", "401", "429", "default"]},
        },
    },
}
PATHS["/schedules/{scheduleId}/cancel"] = {
    "parameters": PATHS["/schedules/{scheduleId}"]["parameters"],
    "post": {
        "summary": "Stop a schedule made through the API for good",
        "operationId": "cancelSchedule",
        "description": (
            "Nothing more falls due; an occurrence already started still settles (and sends its "
            "webhook). Answers the schedule, now `cancelled`. A schedule that is already over "
            "(`finished`, `cancelled`, `rejected`) is 409 `conflict`, so calling this twice "
            "answers 409 the second time. A schedule made or changed in the chat is 403 "
            "`not_allowed`: an admin cancels it there."
        ),
        "parameters": [IDEMPOTENCY_KEY],
        "responses": {
            "200": _ok("The cancelled schedule and its history.", "Schedule"),
            "403": _error("The schedule was made in the chat (`not_allowed`)."),
            "404": _not_found("schedule"),
            "409": _error(
                "The schedule is already finished, cancelled or rejected (`conflict`), or an "
                "Idempotency-Key reused with another body (`idempotency_key_reused`) or still "
                "running (`idempotency_in_progress`)."
            ),
            **{code: ERRORS[code] for code in ["400", "401", "429", "default"]},
        },
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "M-Pesa bot shop API",
        "version": API_VERSION,
        "description": (
            "Create orders, take M-Pesa payments for them by STK Push, follow and retry them. "
            "Amounts are whole Kenyan shillings. Every error is "
            '{"error": {"code", "message", "field"?}}.'
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key from `mpesa-bot apikey create <name>`.",
            }
        },
        "schemas": SCHEMAS,
    },
}


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """A fresh OpenAPI document for a server with ``settings`` (defaults: the default settings)."""
    document = deepcopy(DOCUMENT)
    extra = settings.mpesa_extra_prefixes if settings is not None else []
    airtel_extra = settings.airtel_extra_prefixes if settings is not None else []
    airtel = settings is not None and settings.airtel_enabled
    maximum = settings.mpesa_max_amount if settings is not None else DEFAULT_MAXIMUM
    schemas = document["components"]["schemas"]
    schemas["CreateOrder"]["properties"]["amount"]["maximum"] = maximum
    schemas["CreateSchedule"]["properties"]["amount"]["maximum"] = maximum
    if settings is not None:
        schemas["CreatePayoutBatch"]["properties"]["rows"]["maxItems"] = settings.bulk_max_rows
    patterns = grammar.provider_patterns(extra, airtel_extra, airtel=airtel)
    if airtel:
        # each paymentMethod takes the numbers of its own network (the router's decision)
        initiate = schemas.pop("InitiatePayment")
        schemas["InitiatePayment"] = {
            "oneOf": [_initiate(initiate, m, p) for m, p in patterns.items()]
        }
    else:
        schemas["InitiatePayment"]["properties"]["phoneNumber"]["pattern"] = patterns["MPESA"]
    history = grammar.any_phone_pattern(extra, airtel_extra, airtel=airtel)
    schemas["CreateSchedule"]["properties"]["phoneNumber"]["pattern"] = history
    for parameter in document["paths"]["/payments/history"]["get"]["parameters"]:
        if parameter["name"] == "phone":
            parameter["schema"]["pattern"] = history
    return document


def _initiate(schema: dict[str, Any], method: str, pattern: str) -> dict[str, Any]:
    """InitiatePayment for one paymentMethod: its value, and the phones of its network."""
    variant = deepcopy(schema)
    variant["properties"]["paymentMethod"] = {"type": "string", "enum": [method]}
    variant["properties"]["phoneNumber"]["pattern"] = pattern
    return variant
