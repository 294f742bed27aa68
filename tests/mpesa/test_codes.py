"""Result codes explained for cashiers: category, meaning, next step, resend and alert flags."""

from __future__ import annotations

import pytest

from mpesa.codes import Api
from mpesa.codes import ResultCategory
from mpesa.codes import ResultInfo
from mpesa.codes import describe_result
from mpesa.codes import is_api_error_code
from mpesa.codes import is_still_processing
from mpesa.codes import normalize_result_code

C = ResultCategory


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, "0"),
        ("0", "0"),
        (0.0, "0"),
        (" 0 ", "0"),
        ("0.00", "0"),
        ("00", "0"),
        (1032, "1032"),
        ("1032", "1032"),
        (1032.0, "1032"),
        ("SFC_IC0003", "SFC_IC0003"),
        (" SFC_IC0003 ", "SFC_IC0003"),
        ("R000001", "R000001"),
        ("C2B00012", "C2B00012"),
        ("500.001.1001", "500.001.1001"),
        (None, ""),
        (True, ""),
        (1.5, "1.5"),
    ],
)
def test_normalize_result_code(raw: object, expected: str) -> None:
    assert normalize_result_code(raw) == expected


# (code, api, category, retryable, alert_admin)
FLAGS = [
    ("0", Api.STK, C.SUCCESS, False, False),
    ("1", Api.STK, C.INSUFFICIENT_FUNDS, True, False),
    ("2", Api.STK, C.FAILED, False, False),
    ("3", Api.STK, C.FAILED, False, False),
    ("4", Api.STK, C.FAILED, False, False),
    ("8", Api.STK, C.FAILED, False, False),
    ("17", Api.STK, C.FAILED, True, False),
    ("26", Api.STK, C.FAILED, True, False),
    ("1001", Api.STK, C.FAILED, True, False),
    ("1019", Api.STK, C.TIMED_OUT, True, False),
    ("1025", Api.STK, C.FAILED, True, False),
    ("1032", Api.STK, C.CANCELLED, True, False),
    ("1037", Api.STK, C.TIMED_OUT, True, False),
    ("2001", Api.STK, C.WRONG_PIN, True, False),
    ("2028", Api.STK, C.FAILED, False, True),
    ("4999", Api.STK, C.PENDING, False, False),
    ("8006", Api.STK, C.FAILED, False, False),
    ("9999", Api.STK, C.FAILED, True, False),
    ("SFC_IC0003", Api.STK, C.FAILED, False, True),
    ("E3008", Api.STK, C.FAILED, False, False),
    ("11", Api.STK, C.FAILED, False, True),
    ("0", Api.B2C, C.SUCCESS, False, False),
    ("1", Api.B2C, C.INSUFFICIENT_FUNDS, False, True),
    ("2", Api.B2C, C.FAILED, False, False),
    ("3", Api.B2C, C.FAILED, False, False),
    ("4", Api.B2C, C.FAILED, False, False),
    ("8", Api.B2C, C.FAILED, False, False),
    ("11", Api.B2C, C.FAILED, False, True),
    ("15", Api.B2C, C.FAILED, False, False),
    ("17", Api.B2C, C.FAILED, True, False),
    ("18", Api.B2C, C.FAILED, False, True),
    ("20", Api.B2C, C.FAILED, False, True),
    ("21", Api.B2C, C.FAILED, False, True),
    ("22", Api.B2C, C.FAILED, False, True),
    ("24", Api.B2C, C.FAILED, False, True),
    ("25", Api.B2C, C.FAILED, False, True),
    ("26", Api.B2C, C.FAILED, True, False),
    ("29", Api.B2C, C.FAILED, False, True),
    ("2001", Api.B2C, C.FAILED, False, True),
    ("2006", Api.B2C, C.FAILED, False, True),
    ("2028", Api.B2C, C.FAILED, False, True),
    ("2040", Api.B2C, C.FAILED, False, False),
    ("8006", Api.B2C, C.FAILED, False, True),
    ("SFC_IC0003", Api.B2C, C.FAILED, False, False),
    ("4999", Api.B2C, C.PENDING, False, False),
    ("2001", Api.STATUS, C.FAILED, False, True),
    ("2001", Api.BALANCE, C.FAILED, False, True),
    ("2001", Api.REVERSAL, C.FAILED, False, True),
    ("0", Api.REVERSAL, C.SUCCESS, False, False),
    ("1", Api.REVERSAL, C.INSUFFICIENT_FUNDS, False, True),
    ("R000001", Api.REVERSAL, C.FAILED, False, False),
    ("R000002", Api.REVERSAL, C.FAILED, False, False),
    ("21", Api.REVERSAL, C.FAILED, False, True),
    ("0", Api.C2B, C.SUCCESS, False, False),
    ("C2B00012", Api.C2B, C.FAILED, False, False),
]


@pytest.mark.parametrize(("code", "api", "category", "retryable", "alert"), FLAGS)
def test_result_table_flags(
    code: str, api: Api, category: ResultCategory, retryable: bool, alert: bool
) -> None:
    info = describe_result(code, "as sent", api=api)
    assert (info.code, info.category, info.retryable, info.alert_admin) == (
        code,
        category,
        retryable,
        alert,
    )
    assert info.description == "as sent"
    assert info.meaning
    assert info.next_step


@pytest.mark.parametrize(
    ("code", "api", "meaning", "next_step"),
    [
        (
            1032,
            Api.STK,
            "The customer cancelled the prompt.",
            "Offer to send the request again.",
        ),
        (
            1037,
            Api.STK,
            "The customer's phone could not be reached.",
            "Ask the customer to check the phone is on, has signal and the SIM is up to date "
            "(dial *234*1*6#), then resend.",
        ),
        (
            2001,
            Api.STK,
            "The customer entered a wrong M-Pesa PIN.",
            "Ask the customer to try again with the correct M-Pesa PIN.",
        ),
        (
            1,
            Api.STK,
            "The customer does not have enough money on M-Pesa.",
            "Ask the customer to top up M-Pesa, then send the request again.",
        ),
        (
            17,
            Api.STK,
            "M-Pesa blocked a repeat of the same request within 2 minutes.",
            "Wait 2 minutes, check the status, then send the request again.",
        ),
        (
            1001,
            Api.STK,
            "Another M-Pesa prompt is open on the customer's phone.",
            "Wait a minute for the other prompt to close, then send the request again.",
        ),
        (
            4999,
            Api.STK,
            "M-Pesa is still processing this transaction.",
            "Wait for the result; do not send the request again.",
        ),
        (
            "SFC_IC0003",
            Api.STK,
            "M-Pesa does not recognise our till or paybill for this kind of payment.",
            "Tell an administrator: check the transaction type and the till or paybill number "
            "in the settings.",
        ),
        (
            1,
            Api.B2C,
            "Our B2C utility account does not have enough money for this payout.",
            "Tell an administrator: top up the B2C utility account, then send the payout again.",
        ),
        (
            2001,
            Api.B2C,
            "M-Pesa rejected our initiator credentials (name, password or certificate).",
            "Tell an administrator: check the initiator name, password and certificate in the "
            "settings.",
        ),
        (
            2040,
            Api.B2C,
            "The recipient is not registered on M-Pesa.",
            "Ask the recipient to register for M-Pesa, or pay another way.",
        ),
        (
            "R000001",
            Api.REVERSAL,
            "This payment was already reversed.",
            "Nothing to do: check the earlier reversal.",
        ),
    ],
)
def test_meaning_and_next_step(code: object, api: Api, meaning: str, next_step: str) -> None:
    info = describe_result(code, api=api)  # type: ignore[arg-type]
    assert (info.meaning, info.next_step) == (meaning, next_step)


@pytest.mark.parametrize("code", [0, "0", 0.0, " 0"])
def test_success_in_every_form(code: object) -> None:
    info = describe_result(code, "The service request is processed successfully.")  # type: ignore[arg-type]
    assert info == ResultInfo(
        code="0",
        category=C.SUCCESS,
        meaning="The customer paid.",
        next_step="Nothing to do.",
        retryable=False,
        alert_admin=False,
        description="The service request is processed successfully.",
    )


@pytest.mark.parametrize(
    ("api", "meaning"),
    [
        (Api.STK, "The customer paid."),
        (Api.B2C, "The money reached the recipient."),
        (Api.STATUS, "M-Pesa answered the status query."),
        (Api.BALANCE, "M-Pesa reported the balance."),
        (Api.REVERSAL, "The payment was reversed."),
        (Api.C2B, "The payment was received."),
    ],
)
def test_success_meaning_per_api(api: Api, meaning: str) -> None:
    assert describe_result("0", api=api).meaning == meaning


def test_r_codes_are_reversal_only() -> None:
    assert describe_result("R000001", api=Api.B2C).meaning == (
        "M-Pesa reported an unrecognised result (code R000001)."
    )


@pytest.mark.parametrize(
    ("code", "description", "meaning"),
    [
        ("E9999", "Something odd", "M-Pesa reported an unrecognised result (code E9999)."),
        (123456, "", "M-Pesa reported an unrecognised result (code 123456)."),
        (None, "", "M-Pesa sent no result code."),
        ("", "blank", "M-Pesa sent no result code."),
    ],
)
def test_unknown_codes_fail_keeping_the_raw_text(
    code: object, description: str, meaning: str
) -> None:
    info = describe_result(code, description)  # type: ignore[arg-type]
    assert (info.category, info.meaning, info.description, info.retryable, info.alert_admin) == (
        C.FAILED,
        meaning,
        description,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("code", "description", "processing"),
    [
        ("4999", "The transaction is still under processing", True),
        (4999, "", True),
        ("500.001.1001", "The transaction is being processed", True),
        ("500.001.1001", "The Transaction Is Being Processed", True),
        ("500.001.1001", "Unable to lock subscriber, a transaction is already in process", False),
        ("500.001.1001", "Wrong credentials", False),
        ("0", "being processed", False),
        ("1032", "Request cancelled by user", False),
        (None, "", False),
    ],
)
def test_is_still_processing(code: object, description: str, processing: bool) -> None:
    assert is_still_processing(code, description) is processing


@pytest.mark.parametrize(
    ("code", "description", "category"),
    [
        ("500.001.1001", "The transaction is being processed", C.PENDING),
        (
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process",
            C.FAILED,
        ),
        ("500.001.1001", "Wrong credentials", C.FAILED),
    ],
)
def test_stk_query_error_codes(code: str, description: str, category: ResultCategory) -> None:
    info = describe_result(code, description)
    assert info.category == category


def test_lock_subscriber_error_reads_like_1001() -> None:
    info = describe_result("500.001.1001", "Unable to lock subscriber, a transaction is in process")
    assert (info.meaning, info.retryable) == (describe_result("1001").meaning, True)


@pytest.mark.parametrize(
    ("code", "api_error", "recognised"),
    [
        ("500.003.02", True, False),
        ("429.001.01", True, False),
        ("400.002.02", True, False),
        ("1032", False, True),
        ("E9999", False, False),
        ("0", False, True),
    ],
)
def test_api_error_codes_are_told_apart_from_results(
    code: str, api_error: bool, recognised: bool
) -> None:
    assert is_api_error_code(code) is api_error
    assert describe_result(code, api=Api.STK).recognised is recognised


def test_result_info_is_frozen() -> None:
    info = describe_result("0")
    with pytest.raises(AttributeError):
        info.code = "1"  # type: ignore[misc]


def test_enums_are_strings() -> None:
    assert [c.value for c in ResultCategory] == [
        "success",
        "cancelled",
        "insufficient_funds",
        "wrong_pin",
        "timed_out",
        "pending",
        "failed",
    ]
    assert {a.name for a in Api} == {"STK", "B2C", "STATUS", "BALANCE", "REVERSAL", "C2B"}
