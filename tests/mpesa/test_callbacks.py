"""Daraja callbacks: every sample parses exactly, and the variants seen in the wild parse too."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mpesa.callbacks import ACK
from mpesa.callbacks import C2B_CONFIRMATION_ACK
from mpesa.callbacks import AccountBalanceResult
from mpesa.callbacks import B2CResult
from mpesa.callbacks import BalanceAccount
from mpesa.callbacks import C2BPayment
from mpesa.callbacks import QueueTimeout
from mpesa.callbacks import StkCallback
from mpesa.callbacks import _parsing
from mpesa.callbacks import c2b_accept
from mpesa.callbacks import c2b_reject
from mpesa.callbacks import parse_account_balance_result
from mpesa.callbacks import parse_b2c_result
from mpesa.callbacks import parse_b2c_timeout
from mpesa.callbacks import parse_balance_string
from mpesa.callbacks import parse_c2b
from mpesa.callbacks import parse_reversal_result
from mpesa.callbacks import parse_stk_callback
from mpesa.callbacks import parse_transaction_status_result
from mpesa.errors import CallbackParseError
from mpesa.errors import DarajaError
from mpesa.security import NAIROBI

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "daraja"

# Repeated on purpose: each variant test spells out the whole raw body it parses and the whole
# tuple it expects, because the body *is* the case (a renamed key, a missing item, a quirk seen
# in the wild); a shared builder would hide the one line that differs.

Parser = Callable[[Any], Any]


def load(name: str) -> dict[str, Any]:
    """A sample body as a fresh dict the test may change."""
    return json.loads((FIXTURES / name).read_text())


def raw(name: str) -> bytes:
    """A sample body exactly as Daraja would post it."""
    return (FIXTURES / name).read_bytes()


def eat(*parts: int) -> datetime:
    """An aware Nairobi datetime."""
    return datetime(*parts, tzinfo=NAIROBI)  # type: ignore[misc]


def stk_with_items(items: object, **header: object) -> dict[str, Any]:
    """The successful STK sample with its Item list (and header fields) replaced."""
    body = load("stk_callback_success.json")
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = items
    body["Body"]["stkCallback"].update(header)
    return body


def b2c_with_params(params: object, **envelope: object) -> dict[str, Any]:
    """The successful B2C sample with its ResultParameter (and envelope fields) replaced."""
    body = load("b2c_result_success.json")
    body["Result"]["ResultParameters"]["ResultParameter"] = params
    body["Result"].update(envelope)
    return body


def parse_error(parser: Parser, body: object) -> str:
    """The message of the CallbackParseError a parser raises for body."""
    with pytest.raises(CallbackParseError) as caught:
        parser(body)
    return str(caught.value)


# ---- the samples, exactly ----------------------------------------------------------------------


def test_stk_success_sample() -> None:
    assert parse_stk_callback(raw("stk_callback_success.json")) == StkCallback(
        merchant_request_id="5f2c-4a7e-b91d-0c3e8a6f2d1b1532087",
        checkout_request_id="ws_CO_20112026143005812708374149",
        result_code="0",
        result_desc="The service request is processed successfully.",
        amount=150,
        receipt="UKK4Q7M2XB",
        transaction_date=eat(2026, 11, 20, 14, 30, 41),
        phone="254708374149",
        balance=None,
    )


@pytest.mark.parametrize(
    ("name", "merchant_request_id", "checkout_request_id", "code", "desc"),
    [
        (
            "stk_callback_cancelled.json",
            "a41d-4c2b-8e7f-3b9d0c6e5a2f1533904",
            "ws_CO_20112026144512307708374149",
            "1032",
            "Request cancelled by user",
        ),
        (
            "stk_callback_insufficient.json",
            "c7e9-4f1a-a2b3-6d8e4f0a1c9b1535211",
            "ws_CO_20112026150208655712345678",
            "1",
            "The balance is insufficient for the transaction.",
        ),
        (
            "stk_callback_timeout.json",
            "e2b8-4d6c-9f0a-1e3b5c7d9a2f1536478",
            "ws_CO_20112026152733104708374149",
            "1037",
            "DS timeout user cannot be reached",
        ),
        (
            "stk_callback_wrong_pin.json",
            "0d4f-4b8a-8c21-7e5a9b3c6d1f1537012",
            "ws_CO_20112026153910448708374149",
            "2001",
            "The initiator information is invalid.",
        ),
    ],
)
def test_stk_failure_samples(
    name: str, merchant_request_id: str, checkout_request_id: str, code: str, desc: str
) -> None:
    parsed = parse_stk_callback(raw(name))
    assert parsed == StkCallback(
        merchant_request_id=merchant_request_id,
        checkout_request_id=checkout_request_id,
        result_code=code,
        result_desc=desc,
    )
    assert parsed.succeeded is False
    assert (parsed.amount, parsed.receipt, parsed.transaction_date, parsed.phone) == (
        None,
        None,
        None,
        None,
    )


def test_b2c_success_sample() -> None:
    parsed = parse_b2c_result(raw("b2c_result_success.json"))
    assert parsed == B2CResult(
        result_type=0,
        result_code="0",
        result_desc="The service request is processed successfully.",
        originator_conversation_id="3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
        conversation_id="AG_20261120_20104f3c9e7a1b2d5c6e",
        transaction_id="UKK7R3N9TD",
        amount=500,
        receipt="UKK7R3N9TD",
        receiver_name="John Doe",
        receiver_msisdn="254708374149",
        completed_at=eat(2026, 11, 20, 14, 31, 7),
        utility_balance_cents=9_452_000,
        recipient_registered=True,
        parameters={
            "TransactionAmount": 500,
            "TransactionReceipt": "UKK7R3N9TD",
            "ReceiverPartyPublicName": "254708374149 - John Doe",
            "TransactionCompletedDateTime": "20.11.2026 14:31:07",
            "B2CUtilityAccountAvailableFunds": 94520.0,
            "B2CWorkingAccountAvailableFunds": 0.0,
            "B2CRecipientIsRegisteredCustomer": "Y",
            "B2CChargesPaidAccountAvailableFunds": -213.0,
        },
    )
    assert parsed.succeeded is True


def test_b2c_failure_sample() -> None:
    parsed = parse_b2c_result(raw("b2c_result_failure.json"))
    assert parsed == B2CResult(
        result_type=0,
        result_code="2001",
        result_desc="The initiator information is invalid.",
        originator_conversation_id="9a7d3c1e-5b2f-4e8a-a6c4-0f1e2d3c4b5a",
        conversation_id="AG_20261120_2010a8c3e5f7d9b1c2e4",
        transaction_id="UKK0000000",
    )
    # the placeholder TransactionID is never a receipt
    assert (parsed.succeeded, parsed.receipt, parsed.amount, parsed.parameters) == (
        False,
        None,
        None,
        {},
    )


def test_b2c_queue_timeout_sample() -> None:
    body = load("b2c_queue_timeout.json")
    assert parse_b2c_timeout(raw("b2c_queue_timeout.json")) == QueueTimeout(
        originator_conversation_id="c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f",
        conversation_id="AG_20261120_20106b2d4f6a8c0e1a3c",
        raw=body,
    )


def test_transaction_status_sample() -> None:
    parsed = parse_transaction_status_result(raw("transaction_status_result.json"))
    expected = {
        "result_type": 0,
        "result_code": "0",
        "result_desc": "The service request is processed successfully.",
        "conversation_id": "AG_20261120_2010c4e6a8b0d2f4a6c8",
        "originator_conversation_id": "7b1e-4f0a-9c3d-2e8b6a4f1d5c1541877",
        "queried_originator_conversation_id": "3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
        "queried_conversation_id": "AG_20261120_20104f3c9e7a1b2d5c6e",
        "receipt": "UKK7R3N9TD",
        "transaction_status": "Completed",
        "amount": 500,
        "debit_party_name": "600996 - Safaricom Daraja 996",
        "credit_party_name": "254708374149 - John Doe",
        "initiated_at": eat(2026, 11, 20, 14, 31, 6),
        "finalised_at": eat(2026, 11, 20, 14, 31, 7),
    }
    assert parsed.model_dump(include=set(expected)) == expected
    assert parsed.succeeded is True
    assert parsed.parameters["DebitPartyCharges"] == "Fee For B2C Payment|KES|13.00"
    assert parsed.parameters["TransactionReason"] is None
    assert len(parsed.parameters) == 13


def test_account_balance_sample() -> None:
    parsed = parse_account_balance_result(raw("account_balance_result.json"))
    assert (
        parsed.result_code,
        parsed.result_desc,
        parsed.conversation_id,
        parsed.originator_conversation_id,
        parsed.completed_at,
        parsed.succeeded,
    ) == (
        "0",
        "The service request is processed successfully.",
        "AG_20261120_2010e2a4c6e8a0c2e4a6",
        "2c9e-4b7d-a1f3-8e6c0b2d4f9a1543320",
        eat(2026, 11, 20, 16, 5, 12),
        True,
    )
    assert parsed.accounts == [
        BalanceAccount(
            name="Working Account",
            currency="KES",
            current_cents=2_500_000,
            available_cents=2_500_000,
            reserved_cents=0,
            uncleared_cents=0,
        ),
        BalanceAccount(
            name="Utility Account",
            currency="KES",
            current_cents=9_452_000,
            available_cents=9_452_000,
            reserved_cents=0,
            uncleared_cents=0,
        ),
        BalanceAccount(
            name="Charges Paid Account",
            currency="KES",
            current_cents=-21_300,
            available_cents=-21_300,
            reserved_cents=0,
            uncleared_cents=0,
        ),
        BalanceAccount(
            name="Organization Settlement Account",
            currency="KES",
            current_cents=0,
            available_cents=0,
            reserved_cents=0,
            uncleared_cents=0,
        ),
    ]
    utility = parsed.account("utility account")
    assert utility is not None
    assert utility.available_cents == 9_452_000
    assert parsed.account("Merchant Account") is None


def test_reversal_sample() -> None:
    parsed = parse_reversal_result(raw("reversal_result.json"))
    expected = {
        "result_type": 0,
        "result_code": "0",
        "result_desc": "The service request is processed successfully.",
        "conversation_id": "AG_20261120_20105c7e9a1b3d5f7a9c",
        "originator_conversation_id": "8f4a-4e2c-b6d1-5a9e3c7b0d2f1544461",
        "transaction_id": "UKK8T1V5WC",
        "original_transaction_id": "UKK2M8P4RS",
        "amount": 150,
        "credit_party_name": "254708374149 - John Doe",
        "debit_party_name": "600984 - Safaricom Daraja 984",
        "completed_at": eat(2026, 11, 20, 16, 33, 22),
    }
    assert parsed.model_dump(include=set(expected)) == expected
    assert parsed.succeeded is True


@pytest.mark.parametrize(
    ("name", "org_account_balance"),
    [("c2b_validation.json", ""), ("c2b_confirmation.json", "38150.00")],
)
def test_c2b_samples(name: str, org_account_balance: str) -> None:
    assert parse_c2b(raw(name)) == C2BPayment(
        trans_id="UKK2M8P4RS",
        transaction_type="Pay Bill",
        trans_time=eat(2026, 11, 20, 17, 4, 15),
        amount=150,
        shortcode="600984",
        bill_ref_number="HP-ORD-1043",
        invoice_number="",
        org_account_balance=org_account_balance,
        third_party_trans_id="",
        msisdn="2547 ***** 149",
        first_name="JOHN",
        middle_name="",
        last_name="",
    )


# ---- what we answer ----------------------------------------------------------------------------


def test_answers_match_the_samples() -> None:
    assert load("callback_ack.json") == ACK
    assert load("c2b_confirmation_response.json") == C2B_CONFIRMATION_ACK
    assert load("c2b_validation_response_accept.json") == c2b_accept()
    assert load("c2b_validation_response_reject.json") == c2b_reject()


def test_c2b_accept_echoes_our_reference() -> None:
    assert c2b_accept("INV-1043") == {
        "ResultCode": "0",
        "ResultDesc": "Accepted",
        "ThirdPartyTransID": "INV-1043",
    }


@pytest.mark.parametrize("code", ["C2B00011", "C2B00013", "C2B00016"])
def test_c2b_reject_codes(code: str) -> None:
    assert c2b_reject(code) == {"ResultCode": code, "ResultDesc": "Rejected"}


@pytest.mark.parametrize("code", ["C2B00010", "1", "", "Rejected"])
def test_c2b_reject_refuses_unknown_codes(code: str) -> None:
    with pytest.raises(ValueError):
        c2b_reject(code)


# ---- input forms and broken bodies ----------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        lambda b: b,
        lambda b: b.decode(),
        lambda b: bytearray(b),
        lambda b: json.loads(b),
        lambda b: b"\xef\xbb\xbf" + b,  # a UTF-8 byte-order mark
    ],
    ids=["bytes", "str", "bytearray", "dict", "bom"],
)
@pytest.mark.parametrize(
    ("name", "parser"),
    [
        ("stk_callback_success.json", parse_stk_callback),
        ("b2c_result_success.json", parse_b2c_result),
        ("b2c_queue_timeout.json", parse_b2c_timeout),
        ("transaction_status_result.json", parse_transaction_status_result),
        ("account_balance_result.json", parse_account_balance_result),
        ("reversal_result.json", parse_reversal_result),
        ("c2b_confirmation.json", parse_c2b),
    ],
)
def test_bytes_str_and_dict_parse_alike(
    name: str, parser: Parser, convert: Callable[[bytes], object]
) -> None:
    assert parser(convert(raw(name))) == parser(raw(name))


ALL_PARSERS = [
    parse_stk_callback,
    parse_b2c_result,
    parse_b2c_timeout,
    parse_transaction_status_result,
    parse_account_balance_result,
    parse_reversal_result,
    parse_c2b,
]


@pytest.mark.parametrize("parser", ALL_PARSERS)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON (Expecting value: line 1 column 1 (char 0))"),
        ("{", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2"),
        (b"<html>", "not JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"\xff\xfe", "not JSON: the body is not UTF-8 text"),
        ("[]", "not a JSON object: the body is an array"),
        ("[{}]", "not a JSON object: the body is an array"),
        ("1", "not a JSON object: the body is a number"),
        ('"Result"', "not a JSON object: the body is a string"),
        ("null", "not a JSON object: the body is null"),
        ("true", "not a JSON object: the body is a boolean"),
        (42, "not JSON: cannot read a int"),
    ],
)
def test_not_a_json_object(parser: Parser, body: object, message: str) -> None:
    assert parse_error(parser, body).startswith(message)


def test_parse_error_is_a_daraja_error() -> None:
    assert issubclass(CallbackParseError, DarajaError)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no Body"),
        ({"Body": None}, "no Body"),
        ({"Body": "x"}, "no Body"),
        ({"Body": {}}, "no Body.stkCallback"),
        ({"Body": {"stkCallback": []}}, "no Body.stkCallback"),
        ({"Result": {}}, "no Body"),
        (
            {"Body": {"stkCallback": {"ResultCode": 0}}},
            "no Body.stkCallback.CheckoutRequestID",
        ),
        (
            {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1"}}},
            "no Body.stkCallback.ResultCode",
        ),
        (
            {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": None}}},
            "Body.stkCallback.ResultCode: is empty",
        ),
        (
            {"Body": {"stkCallback": {"CheckoutRequestID": "", "ResultCode": 0}}},
            "Body.stkCallback.CheckoutRequestID: is empty",
        ),
        ({"Body": {"stkCallback": {}}}, "no Body.stkCallback.CheckoutRequestID; "),
    ],
)
def test_broken_stk_callbacks(body: dict[str, Any], message: str) -> None:
    assert parse_error(parse_stk_callback, body).startswith(message)


RESULT_PARSERS = [
    parse_b2c_result,
    parse_transaction_status_result,
    parse_account_balance_result,
    parse_reversal_result,
]


@pytest.mark.parametrize("parser", RESULT_PARSERS)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no Result"),
        ({"Body": {"stkCallback": {}}}, "no Result"),
        ({"Result": None}, "no Result"),
        ({"Result": "timed out"}, "no Result"),
        ({"Result": [{"ResultCode": 0}]}, "no Result"),
        ({"Result": {"ResultDesc": "ok"}}, "no Result.ResultCode"),
        ({"Result": {"ResultCode": ""}}, "Result.ResultCode: is empty"),
    ],
)
def test_broken_results(parser: Parser, body: dict[str, Any], message: str) -> None:
    assert parse_error(parser, body) == message


# ---- STK variants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected", "succeeded"),
    [
        (0, "0", True),
        ("0", "0", True),
        (0.0, "0", True),
        (" 0 ", "0", True),
        (1032, "1032", False),
        ("1032", "1032", False),
        ("SFC_IC0003", "SFC_IC0003", False),
        ("E3008", "E3008", False),
    ],
)
def test_stk_result_code_forms(code: object, expected: str, succeeded: bool) -> None:
    body = load("stk_callback_cancelled.json")
    body["Body"]["stkCallback"]["ResultCode"] = code
    parsed = parse_stk_callback(body)
    assert (parsed.result_code, parsed.succeeded) == (expected, succeeded)


def test_stk_items_reordered() -> None:
    body = load("stk_callback_success.json")
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"].reverse()
    assert parse_stk_callback(body) == parse_stk_callback(raw("stk_callback_success.json"))


def test_stk_single_item_object() -> None:
    parsed = parse_stk_callback(stk_with_items({"Name": "Amount", "Value": 150}))
    assert (parsed.amount, parsed.receipt, parsed.phone) == (150, None, None)


def test_stk_without_metadata_has_no_details() -> None:
    body = load("stk_callback_success.json")
    del body["Body"]["stkCallback"]["CallbackMetadata"]
    parsed = parse_stk_callback(body)
    assert (parsed.succeeded, parsed.amount, parsed.receipt) == (True, None, None)


@pytest.mark.parametrize("amount", [150, 150.0, 150.00, "150", "150.00", " 150.0 "])
def test_stk_amount_forms(amount: object) -> None:
    parsed = parse_stk_callback(stk_with_items([{"Name": "Amount", "Value": amount}]))
    assert parsed.amount == 150


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (1.5, "Amount: 1.5 is not a whole number of shillings"),
        ("1.5", "Amount: '1.5' is not a whole number of shillings"),
        ("150.50", "Amount: '150.50' is not a whole number of shillings"),
        ("abc", "Amount: 'abc' is not an amount"),
        (True, "Amount: True is not an amount"),
    ],
)
def test_stk_fractional_amount_is_an_error_never_rounded(amount: object, message: str) -> None:
    body = stk_with_items([{"Name": "Amount", "Value": amount}])
    assert parse_error(parse_stk_callback, body) == message


def test_stk_item_without_value_is_none() -> None:
    body = stk_with_items(
        [
            {"Name": "Amount", "Value": 10},
            {"Name": "MpesaReceiptNumber"},
            {"Name": "PhoneNumber", "Value": None},
            {"Name": "TransactionDate"},
        ]
    )
    parsed = parse_stk_callback(body)
    assert (parsed.amount, parsed.receipt, parsed.phone, parsed.transaction_date) == (
        10,
        None,
        None,
        None,
    )


def test_stk_keys_with_spaces_and_case() -> None:
    body = {
        "body": {
            "StkCallback": {
                "Merchant Request ID": "m-1",
                "checkoutrequestid": "ws_CO_1",
                "Result Code": "0",
                "resultDesc": "ok",
                "callbackMetadata": {
                    "item": [
                        {"name": "amount", "value": "10.00"},
                        {"Name": "Mpesa Receipt Number", "Value": "UKK1"},
                        {"Name": "phone number", "Value": "254708374149"},
                        {"NAME": "TransactionDate", "VALUE": "20261120143041"},
                    ]
                },
            }
        }
    }
    assert parse_stk_callback(body) == StkCallback(
        merchant_request_id="m-1",
        checkout_request_id="ws_CO_1",
        result_code="0",
        result_desc="ok",
        amount=10,
        receipt="UKK1",
        phone="254708374149",
        transaction_date=eat(2026, 11, 20, 14, 30, 41),
    )


def test_stk_exact_key_wins_over_a_loose_one() -> None:
    body = load("stk_callback_cancelled.json")
    body["Body"]["stkCallback"] = {"result code": 1, **body["Body"]["stkCallback"]}
    assert parse_stk_callback(body).result_code == "1032"


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (254708374149, "254708374149"),
        (254708374149.0, "254708374149"),
        ("254708374149", "254708374149"),
        ("254708***149", "254708***149"),
        ("2547 ***** 149", "2547 ***** 149"),
        (hashlib.sha256(b"254708374149").hexdigest(), hashlib.sha256(b"254708374149").hexdigest()),
        ("", None),
    ],
)
def test_stk_phone_as_reported(phone: object, expected: str | None) -> None:
    parsed = parse_stk_callback(stk_with_items([{"Name": "PhoneNumber", "Value": phone}]))
    assert parsed.phone == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (20261120143041, eat(2026, 11, 20, 14, 30, 41)),
        ("20261120143041", eat(2026, 11, 20, 14, 30, 41)),
        (20261120143041.0, eat(2026, 11, 20, 14, 30, 41)),
        ("2026-11-20T14:30:41", eat(2026, 11, 20, 14, 30, 41)),
        ("2026-11-20T11:30:41+00:00", eat(2026, 11, 20, 14, 30, 41)),
        ("20.11.2026 14:30:41", eat(2026, 11, 20, 14, 30, 41)),
        (20261320143041, None),
        ("yesterday", None),
        ("", None),
        (None, None),
        ({"date": 1}, None),
    ],
)
def test_stk_transaction_date_forms(value: object, expected: datetime | None) -> None:
    parsed = parse_stk_callback(stk_with_items([{"Name": "TransactionDate", "Value": value}]))
    assert parsed.transaction_date == expected
    if expected is not None:
        assert parsed.transaction_date is not None
        assert parsed.transaction_date.tzinfo == NAIROBI


@pytest.mark.parametrize(
    ("balance", "expected"),
    [
        (None, None),
        (1200, "1200"),
        (
            "{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}",
            "{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}",
        ),
    ],
)
def test_stk_balance_forms(balance: object, expected: str | None) -> None:
    parsed = parse_stk_callback(stk_with_items([{"Name": "Balance", "Value": balance}]))
    assert parsed.balance == expected


def test_stk_unknown_fields_are_ignored() -> None:
    body = load("stk_callback_success.json")
    body["Extra"] = 1
    body["Body"]["Extra"] = {"x": 1}
    body["Body"]["stkCallback"]["Unexpected"] = [1, 2]
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    items.append({"Name": "SomethingNew", "Value": "x"})
    items.append("not an item")
    items.append({"Value": "no name"})
    items[0]["Comment"] = "extra key inside an item"
    assert parse_stk_callback(body) == parse_stk_callback(raw("stk_callback_success.json"))


def test_stk_first_duplicate_item_wins() -> None:
    body = stk_with_items(
        [
            {"Name": "MpesaReceiptNumber", "Value": "FIRST"},
            {"Name": "MpesaReceiptNumber", "Value": "X"},
        ]
    )
    assert parse_stk_callback(body).receipt == "FIRST"


def test_stk_callback_is_frozen() -> None:
    parsed = parse_stk_callback(raw("stk_callback_success.json"))
    with pytest.raises(ValidationError):
        parsed.amount = 1  # type: ignore[misc]


def test_stk_ids_as_numbers_become_strings() -> None:
    body = load("stk_callback_cancelled.json")
    body["Body"]["stkCallback"]["MerchantRequestID"] = 29115
    parsed = parse_stk_callback(body)
    assert parsed.merchant_request_id == "29115"


# ---- B2C variants ------------------------------------------------------------------------------


def test_b2c_single_object_result_parameter() -> None:
    parsed = parse_b2c_result(b2c_with_params({"Key": "TransactionAmount", "Value": "500.00"}))
    assert (parsed.amount, parsed.receipt, parsed.parameters) == (
        500,
        None,
        {"TransactionAmount": "500.00"},
    )


def test_b2c_parameters_reordered() -> None:
    body = load("b2c_result_success.json")
    body["Result"]["ResultParameters"]["ResultParameter"].reverse()
    reordered = parse_b2c_result(body)
    original = parse_b2c_result(raw("b2c_result_success.json"))
    assert reordered.model_dump(exclude={"parameters"}) == original.model_dump(
        exclude={"parameters"}
    )
    assert reordered.parameters == original.parameters


def test_b2c_reference_item_as_list_with_missing_values() -> None:
    body = load("b2c_result_success.json")
    body["Result"]["ReferenceData"] = {
        "ReferenceItem": [{"Key": "QueueTimeoutURL"}, {"Key": "Occasion", "Value": "x"}]
    }
    assert parse_b2c_result(body) == parse_b2c_result(raw("b2c_result_success.json"))


def test_b2c_keys_with_spaces() -> None:
    body = {
        "Result": {
            "Result Type": "0",
            "Result Code": "0",
            "Result Desc": "ok",
            "Originator Conversation ID": "oc-1",
            "Conversation ID": "AG_1",
            "Transaction ID": "UKK1",
            "Result Parameters": {
                "Result Parameter": [
                    {"Key": "Transaction Amount", "Value": "500"},
                    {"Key": "transaction receipt", "Value": "UKK1"},
                ]
            },
        }
    }
    parsed = parse_b2c_result(body)
    assert (
        parsed.result_type,
        parsed.result_code,
        parsed.originator_conversation_id,
        parsed.conversation_id,
        parsed.transaction_id,
        parsed.amount,
        parsed.receipt,
        parsed.parameters,
    ) == (
        0,
        "0",
        "oc-1",
        "AG_1",
        "UKK1",
        500,
        "UKK1",
        {"TransactionAmount": "500", "transactionreceipt": "UKK1"},
    )


@pytest.mark.parametrize(
    ("code", "expected"), [(2001, "2001"), ("2001", "2001"), ("SFC_IC0003", "SFC_IC0003")]
)
def test_b2c_result_code_forms(code: object, expected: str) -> None:
    body = load("b2c_result_failure.json")
    body["Result"]["ResultCode"] = code
    assert parse_b2c_result(body).result_code == expected


@pytest.mark.parametrize(
    ("amount", "expected"), [(500, 500), (500.0, 500), ("500.00", 500), ("1,500", 1500)]
)
def test_b2c_amount_forms(amount: object, expected: int) -> None:
    body = b2c_with_params([{"Key": "TransactionAmount", "Value": amount}])
    assert parse_b2c_result(body).amount == expected


def test_b2c_fractional_amount_is_an_error() -> None:
    body = b2c_with_params([{"Key": "TransactionAmount", "Value": 500.5}])
    assert (
        parse_error(parse_b2c_result, body)
        == "TransactionAmount: 500.5 is not a whole number of shillings"
    )


@pytest.mark.parametrize(
    ("value", "msisdn", "name"),
    [
        ("254708374149 - John Doe", "254708374149", "John Doe"),
        ("254708374149 - Mary-Anne Wanjiku - Kamau", "254708374149", "Mary-Anne Wanjiku - Kamau"),
        ("2547****149 - Jane Doe", "2547****149", "Jane Doe"),
        ("254708374149", "254708374149", None),
        ("John Doe", None, "John Doe"),
        ("254708374149 - ", "254708374149", None),
        ("254708374149-John Doe", "254708374149", "John Doe"),
        ("600984 - Safaricom Daraja 984", "600984", "Safaricom Daraja 984"),
        ("-", None, "-"),
        (None, None, None),
    ],
)
def test_b2c_receiver_party(value: object, msisdn: str | None, name: str | None) -> None:
    body = b2c_with_params([{"Key": "ReceiverPartyPublicName", "Value": value}])
    parsed = parse_b2c_result(body)
    assert (parsed.receiver_msisdn, parsed.receiver_name) == (msisdn, name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20.11.2026 14:31:07", eat(2026, 11, 20, 14, 31, 7)),
        ("20261120143107", eat(2026, 11, 20, 14, 31, 7)),
        (20261120143107, eat(2026, 11, 20, 14, 31, 7)),
        ("32.11.2026 14:31:07", None),
        ("soon", None),
    ],
)
def test_b2c_completed_at_forms(value: object, expected: datetime | None) -> None:
    body = b2c_with_params([{"Key": "TransactionCompletedDateTime", "Value": value}])
    assert parse_b2c_result(body).completed_at == expected


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (94520.00, 9_452_000),
        (94520, 9_452_000),
        ("94520.00", 9_452_000),
        ("94,520.5", 9_452_050),
        (0.29, 29),
        ("-213.00", -21_300),
        (" 10.10 ", 1010),
        ("10.001", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_b2c_utility_balance_in_cents(value: object, cents: int | None) -> None:
    body = b2c_with_params([{"Key": "B2CUtilityAccountAvailableFunds", "Value": value}])
    assert parse_b2c_result(body).utility_balance_cents == cents


@pytest.mark.parametrize(
    ("value", "registered"),
    [("Y", True), ("y", True), ("N", False), ("", None), ("maybe", None), (None, None)],
)
def test_b2c_recipient_registered(value: object, registered: bool | None) -> None:
    body = b2c_with_params([{"Key": "B2CRecipientIsRegisteredCustomer", "Value": value}])
    assert parse_b2c_result(body).recipient_registered is registered


def test_b2c_result_without_optional_envelope_fields() -> None:
    parsed = parse_b2c_result({"Result": {"ResultCode": 17}})
    assert (
        parsed.result_code,
        parsed.result_desc,
        parsed.result_type,
        parsed.originator_conversation_id,
        parsed.conversation_id,
        parsed.transaction_id,
        parsed.parameters,
    ) == ("17", "", None, None, None, None, {})


def test_b2c_envelope_key_named_parameters_does_not_shadow_ours() -> None:
    body = load("b2c_result_success.json")
    body["Result"]["parameters"] = "nonsense"
    assert parse_b2c_result(body) == parse_b2c_result(raw("b2c_result_success.json"))


# ---- queue time-out ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "originator", "conversation"),
    [
        (
            # an echo of the request body (global-121/121-platform's model of it)
            {
                "OriginatorConversationID": "3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
                "InitiatorName": "testapi",
                "CommandID": "BusinessPayment",
                "Amount": 500,
                "PartyA": "600996",
                "PartyB": "254708374149",
            },
            "3f9c2b7e-8d41-4a6f-b0e5-2c7d9a1e4f68",
            None,
        ),
        ({"Result": {"ConversationID": "AG_1"}}, None, "AG_1"),
        ({"result": {"originator conversation id": 12345}}, "12345", None),
        ({"OriginalConversationID": "oc-9"}, "oc-9", None),
        (
            {
                "Result": {
                    "ResultParameters": {
                        "ResultParameter": [
                            {"Key": "OriginatorConversationID", "Value": "oc-7"},
                            {"Key": "ConversationID", "Value": "AG_7"},
                        ]
                    }
                }
            },
            "oc-7",
            "AG_7",
        ),
        ({"data": [{"x": {"ConversationID": "AG_deep"}}]}, None, "AG_deep"),
        (
            {"OriginatorConversationID": "", "Result": {"OriginatorConversationID": "oc-2"}},
            "oc-2",
            None,
        ),
        ({}, None, None),
        ({"anything": "at all"}, None, None),
    ],
)
def test_queue_timeout_accepts_any_object(
    body: dict[str, Any], originator: str | None, conversation: str | None
) -> None:
    parsed = parse_b2c_timeout(json.dumps(body))
    assert (parsed.originator_conversation_id, parsed.conversation_id, parsed.raw) == (
        originator,
        conversation,
        body,
    )


def test_queue_timeout_envelope_beats_nested_ids() -> None:
    body = {
        "Result": {
            "OriginatorConversationID": "envelope",
            "ResultParameters": {
                "ResultParameter": {"Key": "OriginatorConversationID", "Value": "nested"}
            },
        }
    }
    assert parse_b2c_timeout(body).originator_conversation_id == "envelope"


def test_queue_timeout_raw_is_a_copy() -> None:
    body = {"OriginatorConversationID": "oc-1"}
    parsed = parse_b2c_timeout(body)
    body["OriginatorConversationID"] = "changed"
    assert parsed.raw == {"OriginatorConversationID": "oc-1"}


# ---- Transaction Status variants ---------------------------------------------------------------


def test_status_old_keys_with_spaces_and_numbers_as_strings() -> None:
    body = {
        "Result": {
            "ResultType": "0",
            "ResultCode": "0",
            "ResultDesc": "ok",
            "ConversationID": "AG_env",
            "OriginatorConversationID": "oc-env",
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "Originator Conversation ID", "Value": "oc-queried"},
                    {"Key": "Conversation ID", "Value": "AG_queried"},
                    {"Key": "Amount", "Value": "500"},
                    {"Key": "InitiatedTime", "Value": "20261120143106"},
                    {"Key": "FinalisedTime", "Value": "not a time"},
                    {"Key": "Receipt No", "Value": "UKK7R3N9TD"},
                    {"Key": "Transaction Status", "Value": "Completed"},
                ]
            },
        }
    }
    parsed = parse_transaction_status_result(body)
    assert (
        parsed.originator_conversation_id,
        parsed.conversation_id,
        parsed.queried_originator_conversation_id,
        parsed.queried_conversation_id,
        parsed.amount,
        parsed.initiated_at,
        parsed.finalised_at,
        parsed.receipt,
        parsed.transaction_status,
    ) == (
        "oc-env",
        "AG_env",
        "oc-queried",
        "AG_queried",
        500,
        eat(2026, 11, 20, 14, 31, 6),
        None,
        "UKK7R3N9TD",
        "Completed",
    )
    assert parsed.parameters["OriginatorConversationID"] == "oc-queried"


def test_status_repeated_debit_party_name_is_the_credit_party() -> None:
    # the current doc sample repeats DebitPartyName instead of sending CreditPartyName
    body = {
        "Result": {
            "ResultCode": 0,
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "DebitPartyName", "Value": "600996 - Safaricom Daraja 996"},
                    {"Key": "DebitPartyName", "Value": "254708374149 - John Doe"},
                ]
            },
        }
    }
    parsed = parse_transaction_status_result(body)
    assert (parsed.debit_party_name, parsed.credit_party_name) == (
        "600996 - Safaricom Daraja 996",
        "254708374149 - John Doe",
    )


def test_status_failure_without_parameters() -> None:
    parsed = parse_transaction_status_result(
        {"Result": {"ResultCode": 2001, "ResultDesc": "The initiator information is invalid."}}
    )
    assert (parsed.result_code, parsed.receipt, parsed.amount, parsed.parameters) == (
        "2001",
        None,
        None,
        {},
    )


def test_status_fractional_amount_is_an_error() -> None:
    body = load("transaction_status_result.json")
    body["Result"]["ResultParameters"]["ResultParameter"][10]["Value"] = "500.50"
    assert parse_error(parse_transaction_status_result, body) == (
        "Amount: '500.50' is not a whole number of shillings"
    )


# ---- Account Balance variants ------------------------------------------------------------------


def acct(name: str, currency: str = "", *cents: int | None) -> BalanceAccount:
    """A BalanceAccount with its four balances given positionally (missing ones None)."""
    values = [*cents, None, None, None, None][:4]
    return BalanceAccount(
        name=name,
        currency=currency,
        current_cents=values[0],
        available_cents=values[1],
        reserved_cents=values[2],
        uncleared_cents=values[3],
    )


@pytest.mark.parametrize(
    ("text", "accounts"),
    [
        (
            "Working Account|KES|25000.00|25000.00|0.00|0.00",
            [acct("Working Account", "KES", 2_500_000, 2_500_000, 0, 0)],
        ),
        (
            "Utility Account|KES|346568.83|6186.83|340382.00|0.00",
            [acct("Utility Account", "KES", 34_656_883, 618_683, 34_038_200, 0)],
        ),
        ("Utility Account|KES|100.00", [acct("Utility Account", "KES", 10_000)]),
        ("Utility Account|KES", [acct("Utility Account", "KES")]),
        ("Utility Account", [acct("Utility Account")]),
        (
            "Working Account|KES|1.00|2.00|3.00|4.00|5.00|extra",
            [acct("Working Account", "KES", 100, 200, 300, 400)],
        ),
        (
            " Charges Paid Account | KES | -213.00 | -213.00 | 0.00 | 0.00 ",
            [acct("Charges Paid Account", "KES", -21_300, -21_300, 0, 0)],
        ),
        (
            "Working Account|KES|1,000.50|n/a||0&Utility Account|KES|5|5|0|0&",
            [
                acct("Working Account", "KES", 100_050, None, None, 0),
                acct("Utility Account", "KES", 500, 500, 0, 0),
            ],
        ),
        ("", []),
        ("&&", []),
        ("|KES|1.00", []),
    ],
)
def test_parse_balance_string(text: str, accounts: list[BalanceAccount]) -> None:
    assert parse_balance_string(text) == accounts


def test_balance_failure_without_parameters_has_no_accounts() -> None:
    parsed = parse_account_balance_result(
        {"Result": {"ResultCode": "2001", "ResultDesc": "The initiator information is invalid."}}
    )
    assert (parsed.result_code, parsed.accounts, parsed.completed_at) == ("2001", [], None)


def test_balance_with_single_parameter_object() -> None:
    body = {
        "Result": {
            "ResultCode": "0",
            "ResultParameters": {
                "ResultParameter": {
                    "Key": "AccountBalance",
                    "Value": "Utility Account|KES|94520.00|94520.00|0.00|0.00",
                }
            },
        }
    }
    parsed = parse_account_balance_result(body)
    assert parsed.accounts == [acct("Utility Account", "KES", 9_452_000, 9_452_000, 0, 0)]


def test_balance_completed_time_as_string() -> None:
    body = load("account_balance_result.json")
    body["Result"]["ResultParameters"]["ResultParameter"][1]["Value"] = "20261120160512"
    parsed = parse_account_balance_result(body)
    assert parsed.completed_at == eat(2026, 11, 20, 16, 5, 12)


# ---- Reversal variants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "desc"),
    [
        ("R000001", "The transaction has already been reversed."),
        ("R000002", "The OriginalTransactionID is invalid."),
    ],
)
def test_reversal_string_failure_codes(code: str, desc: str) -> None:
    body = {
        "Result": {
            "ResultType": 0,
            "ResultCode": code,
            "ResultDesc": desc,
            "OriginatorConversationID": "oc-1",
            "ConversationID": "AG_1",
            "TransactionID": "UKK0000000",
            "ReferenceData": {"ReferenceItem": [{"Key": "QueueTimeoutURL"}]},
        }
    }
    parsed = parse_reversal_result(body)
    assert (parsed.result_code, parsed.result_desc, parsed.succeeded, parsed.amount) == (
        code,
        desc,
        False,
        None,
    )


def test_reversal_fractional_amount_is_an_error() -> None:
    body = load("reversal_result.json")
    body["Result"]["ResultParameters"]["ResultParameter"][1]["Value"] = 150.5
    assert parse_error(parse_reversal_result, body) == (
        "Amount: 150.5 is not a whole number of shillings"
    )


# ---- C2B variants ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["150.00", "150", 150, 150.0, "150.0"])
def test_c2b_amount_forms(amount: object) -> None:
    body = load("c2b_confirmation.json")
    body["TransAmount"] = amount
    assert parse_c2b(body).amount == 150


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1.50", "TransAmount: '1.50' is not a whole number of shillings"),
        (1.5, "TransAmount: 1.5 is not a whole number of shillings"),
        (None, "TransAmount: None is not an amount"),
        ("", "TransAmount: '' is not an amount"),
    ],
)
def test_c2b_bad_amount_is_an_error(amount: object, message: str) -> None:
    body = load("c2b_confirmation.json")
    body["TransAmount"] = amount
    assert parse_error(parse_c2b, body) == message


@pytest.mark.parametrize(
    ("missing", "message"),
    [("TransID", "no TransID"), ("TransAmount", "no TransAmount")],
)
def test_c2b_missing_required_field(missing: str, message: str) -> None:
    body = load("c2b_confirmation.json")
    del body[missing]
    assert parse_error(parse_c2b, body) == message


def test_c2b_empty_trans_id_is_an_error() -> None:
    body = load("c2b_confirmation.json")
    body["TransID"] = "  "
    assert parse_error(parse_c2b, body) == "TransID: is empty"


@pytest.mark.parametrize(
    "msisdn",
    [
        "2547 ***** 149",
        hashlib.sha256(b"254708374149").hexdigest(),
        "254708374149",
    ],
)
def test_c2b_msisdn_kept_as_sent(msisdn: str) -> None:
    body = load("c2b_confirmation.json")
    body["MSISDN"] = msisdn
    assert parse_c2b(body).msisdn == msisdn


def test_c2b_numbers_nulls_and_extra_fields() -> None:
    body = load("c2b_confirmation.json")
    body.update(
        {
            "MSISDN": 254708374149,
            "BusinessShortCode": 600984,
            "TransTime": 20261120170415,
            "TransactionType": "",
            "FirstName": None,
            "MiddleName": None,
            "LastName": None,
            "Something": {"new": True},
        }
    )
    parsed = parse_c2b(body)
    assert (
        parsed.msisdn,
        parsed.shortcode,
        parsed.trans_time,
        parsed.transaction_type,
        parsed.first_name,
        parsed.middle_name,
        parsed.last_name,
    ) == ("254708374149", "600984", eat(2026, 11, 20, 17, 4, 15), "", "", "", "")


def test_c2b_bill_ref_kept_as_typed() -> None:
    body = load("c2b_confirmation.json")
    body["BillRefNumber"] = " hp-ord 1043 "
    assert parse_c2b(body).bill_ref_number == " hp-ord 1043 "


def test_c2b_unreadable_time_is_none() -> None:
    body = load("c2b_confirmation.json")
    body["TransTime"] = "20261199999999"
    assert parse_c2b(body).trans_time is None


def test_c2b_keys_differing_in_case_and_spaces() -> None:
    body = {"transid": "UKK1", "Trans Amount": "10.00", "msisdn": "2547 ***** 149"}
    parsed = parse_c2b(body)
    assert (parsed.trans_id, parsed.amount, parsed.msisdn) == ("UKK1", 10, "2547 ***** 149")


@pytest.mark.parametrize(
    "model", [StkCallback, B2CResult, AccountBalanceResult, C2BPayment, QueueTimeout]
)
def test_models_are_frozen_and_ignore_extras(model: type) -> None:
    config = model.model_config
    assert (config["frozen"], config["extra"], config["populate_by_name"]) == (
        True,
        "ignore",
        True,
    )


def test_deep_copy_of_sample_is_not_mutated() -> None:
    body = load("stk_callback_success.json")
    before = copy.deepcopy(body)
    parse_stk_callback(body)
    assert body == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1}',
        b'\xef\xbb\xbf{"a": 1}',  # one BOM: dropped
        b'\xef\xbb\xbf\xef\xbb\xbf{"a": 1}',  # a second one stays (and is not JSON)
        b'\xef\xbb{"a": 1}',  # half a BOM: not UTF-8
        b'{"a": "\xc3\xa9"}',
        b'{"a": "\xff"}',
        b"",
    ],
)
def test_a_body_is_decoded_as_utf_8_sig_decodes_it(raw: bytes) -> None:
    try:
        expected: object = json.loads(raw.decode("utf-8-sig"))
    except ValueError:  # UnicodeDecodeError is one too
        expected = CallbackParseError
    try:
        actual: object = _parsing.load(raw)
    except CallbackParseError:
        actual = CallbackParseError
    assert actual == expected
