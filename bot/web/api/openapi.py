"""The OpenAPI 3.1 document of /api/v1 (a test checks every route against it)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

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
        "Any unique string (at most 128 characters). The same key and body answer the first "
        "response again (header Idempotent-Replayed: true); the same key with another body is 409."
    ),
    "schema": {"type": "string", "maxLength": 128},
}

ORDER_ID_PATH = {
    "name": "orderId",
    "in": "path",
    "required": True,
    "description": "The order's code, e.g. HP7K2Q9XAB.",
    "schema": {"type": "string", "maxLength": 32},
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
                "minimum": 1,
                "description": 'Whole Kenyan shillings (a JSON integer; 1.5 or "150" is 400).',
                "examples": [1500],
            },
            "description": {"type": "string", "maxLength": 255, "examples": ["2 x cooking oil"]},
            "reference": {
                **_nullable("string", maxLength=64),
                "description": "Your own unique id for the order (optional).",
                "examples": ["SHOP-1043"],
            },
        },
    },
    "InitiatePayment": {
        "type": "object",
        "required": ["orderId", "paymentMethod", "phoneNumber"],
        "properties": {
            "orderId": {"type": "string", "maxLength": 32, "examples": ["HP7K2Q9XAB"]},
            "paymentMethod": {"type": "string", "enum": ["MPESA"]},
            "phoneNumber": {
                "type": "string",
                "description": "A Safaricom number: 0712345678, +254712345678 or 254712345678.",
                "examples": ["0712345678"],
            },
        },
    },
    "Payment": {
        "type": "object",
        "required": ["paymentId", "orderId", "paymentMethod", "status", "amount", "phoneNumber"],
        "properties": {
            "paymentId": {"type": "integer"},
            "orderId": _nullable("string"),
            "paymentMethod": {"type": "string", "enum": ["MPESA"]},
            "status": {
                "type": "string",
                "enum": [
                    "created",
                    "pending",
                    "unknown",
                    "paid",
                    "cancelled",
                    "insufficient_funds",
                    "wrong_pin",
                    "timed_out",
                    "failed",
                    "review",
                ],
                "description": (
                    "pending: the phone shows the PIN prompt; unknown: M-Pesa did not answer, "
                    "we are checking (do not retry); review: paid, but amount or phone differ."
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
            "status": {"type": "string", "enum": ["open", "paid", "cancelled"]},
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
                    "description": "Only payments from this phone (any usual form).",
                    "schema": {"type": "string"},
                },
                {
                    "name": "from",
                    "in": "query",
                    "description": "Created at or after (ISO 8601; no offset means Nairobi time).",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "to",
                    "in": "query",
                    "description": "Created before (ISO 8601; no offset means Nairobi time).",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "description": "nextCursor of the previous page.",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": _ok("A page of payments.", "PaymentPage"),
                **{code: ERRORS[code] for code in ["400", "401", "429", "default"]},
            },
        }
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


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document (callers may change it)."""
    return deepcopy(DOCUMENT)
