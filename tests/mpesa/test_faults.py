"""Daraja's refusals read in every shape and mapped to the error a caller can branch on."""

from __future__ import annotations

import json

import pytest

from mpesa.errors import AuthFailed
from mpesa.errors import DuplicateRequest
from mpesa.errors import InvalidRequest
from mpesa.errors import OutcomeUnknown
from mpesa.errors import RateLimited
from mpesa.errors import ServerError
from mpesa.faults import error_for
from mpesa.faults import json_object
from mpesa.faults import read_fault
from mpesa.faults import retry_after_seconds


def body(data: object) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (
            400,
            body({"requestId": "27746-1", "errorCode": "400.002.02", "errorMessage": "Bad"}),
            ("400.002.02", "Bad", "27746-1"),
        ),
        (  # a number where a code is expected
            500,
            body({"requestId": "", "errorCode": 500.0031001, "errorMessage": "x"}),
            ("500.0031001", "x", None),
        ),
        (
            401,
            body({"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "oauth.x"}}}),
            ("oauth.x", "Invalid ApiKey", None),
        ),
        (  # a gateway fault whose detail is not an object keeps its text
            403,
            body({"fault": {"faultstring": "no apiproduct match found", "detail": "n/a"}}),
            (None, "no apiproduct match found", None),
        ),
        (400, b"", (None, "HTTP 400 (empty body)", None)),
        (
            502,
            b"<html> Bad   gateway </html>",
            (None, "HTTP 502: <html> Bad gateway </html>", None),
        ),
        (400, body({"ResponseDescription": "Invalid"}), (None, "Invalid", None)),
        (400, body(["not", "an", "object"]), (None, 'HTTP 400: ["not", "an", "object"]', None)),
    ],
    ids=["daraja", "numeric-code", "apigee", "apigee-no-detail", "empty", "html", "desc", "list"],
)
def test_read_fault_shapes(status: int, content: bytes, expected: tuple) -> None:
    fault = read_fault(status, content)

    assert (fault.code, fault.message, fault.request_id) == expected
    assert fault.http_status == status


def test_an_echoed_token_is_blanked_out() -> None:
    content = body({"errorCode": "401.002.01", "errorMessage": "Invalid Access Token - s3cr3t"})

    fault = read_fault(401, content, token="s3cr3t")

    assert fault.message == "Invalid Access Token - ***"
    assert fault.invalid_token


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), (" 1.5 ", 1.5), ("-1", None), ("Wed, 21 Oct", None)]
)
def test_retry_after_header(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


@pytest.mark.parametrize(
    ("status", "code", "message", "money", "error"),
    [
        (500, "500.003.02", "Spike Arrest Violation", True, RateLimited),
        (429, None, "Too many", False, RateLimited),
        (500, "500.002.1001", "Duplicate OriginatorConversationID.", True, DuplicateRequest),
        (500, "500.001.1001", "Wrong credentials", True, InvalidRequest),
        (500, "500.001.1001", "Unable to lock subscriber, ...", True, InvalidRequest),
        (500, "500.003.1001", "Urls are already registered", True, InvalidRequest),
        (403, None, "no apiproduct match found", False, AuthFailed),
        (400, "400.002.02", "Bad Request - Invalid Amount", True, InvalidRequest),
        (500, "500.001.1001", "The transaction is being processed", True, OutcomeUnknown),
        (503, None, "HTTP 503", False, ServerError),
    ],
)
def test_error_for_maps_each_refusal(
    status: int, code: str | None, message: str, money: bool, error: type
) -> None:
    content = body({"errorCode": code, "errorMessage": message}) if code else message.encode()
    fault = read_fault(status, content)

    assert type(error_for("op", fault, money=money)) is error


@pytest.mark.parametrize(("header", "told", "wait"), [("30", 30.0, 30.0), (None, None, 5.0)])
def test_a_rate_limit_says_whether_daraja_gave_the_wait(
    header: str | None, told: float | None, wait: float
) -> None:
    content = body({"errorCode": "500.003.02", "errorMessage": "Spike Arrest Violation"})
    error = error_for("op", read_fault(500, content, retry_after=header), money=True)

    assert isinstance(error, RateLimited)
    assert (error.retry_after_told_s, error.retry_after_s) == (told, wait)


def test_a_2xx_that_is_not_json_is_an_unknown_outcome_only_for_money() -> None:
    with pytest.raises(OutcomeUnknown):
        json_object(200, b"<html>", "stk_push", money=True)
    with pytest.raises(ServerError):
        json_object(200, b"[1]", "stk_query", money=False)
