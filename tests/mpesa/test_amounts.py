"""Whole-shilling amounts: what a cashier types, what Daraja sends, and how we show them."""

from __future__ import annotations

import pytest

from mpesa.amounts import B2C_MINIMUM
from mpesa.amounts import DEFAULT_MAXIMUM
from mpesa.amounts import STK_MINIMUM
from mpesa.amounts import AmountError
from mpesa.amounts import format_cents
from mpesa.amounts import format_kes
from mpesa.amounts import parse_amount
from mpesa.amounts import whole_shillings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1500", 1500),
        (" 1500 ", 1500),
        ("1,500", 1500),
        ("1 500", 1500),
        ("250,000", 250_000),
        ("KES 1,500", 1500),
        ("kes1500", 1500),
        ("Ksh 1,500", 1500),
        ("KShs. 1500", 1500),
        ("1,500/=", 1500),
        ("1500/-", 1500),
        ("1500.00", 1500),
        ("1500.0", 1500),
        ("1500.", 1500),
        ("+1500", 1500),
        ("10", 10),
        ("1", 1),
        ("0001", 1),
        (1500, 1500),
    ],
)
def test_parse_amount_accepts(raw: str | int, expected: int) -> None:
    assert parse_amount(raw, minimum=STK_MINIMUM, maximum=DEFAULT_MAXIMUM) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "abc is not an amount; enter whole shillings, e.g. 1500"),
        ("", "No amount given; enter whole shillings, e.g. 1500"),
        ("   ", "No amount given; enter whole shillings, e.g. 1500"),
        ("0", "0 is not a valid amount; enter a positive amount of at least KES 1"),
        ("-5", "-5 is not a valid amount; enter a positive amount of at least KES 1"),
        (0, "0 is not a valid amount; enter a positive amount of at least KES 1"),
        (
            "1.5",
            "1.5 is not a whole number of shillings; M-Pesa moves whole shillings only",
        ),
        (
            "1500.50",
            "1500.50 is not a whole number of shillings; M-Pesa moves whole shillings only",
        ),
        ("1,50", "1,50 is not a clear amount; write whole shillings like 1500 or 1,500"),
        ("1,5000", "1,5000 is not a clear amount; write whole shillings like 1500 or 1,500"),
        ("15 00", "15 00 is not an amount; enter whole shillings, e.g. 1500"),
        ("1.500,00", "1.500,00 is not an amount; enter whole shillings, e.g. 1500"),
        ("1e3", "1e3 is not an amount; enter whole shillings, e.g. 1500"),
        ("KES", "KES is not an amount; enter whole shillings, e.g. 1500"),
        ("\u0661\u0665\u0660\u0660", "١٥٠٠ is not an amount; enter whole shillings, e.g. 1500"),
        ("300,000", "KES 300,000 is over the KES 250,000 limit per transaction"),
        ("250001", "KES 250,001 is over the KES 250,000 limit per transaction"),
        ("9" * 40, f"{'9' * 40} is far too large to be an amount"),
        (True, "True is not an amount; enter whole shillings, e.g. 1500"),
    ],
)
def test_parse_amount_refuses_with_a_sentence(raw: str | int, message: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(raw, minimum=STK_MINIMUM, maximum=DEFAULT_MAXIMUM)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("raw", "expected"), [("10", 10), ("KES 10", 10), ("250000", 250_000), ("11", 11)]
)
def test_b2c_limits_accept(raw: str, expected: int) -> None:
    assert parse_amount(raw, minimum=B2C_MINIMUM, maximum=DEFAULT_MAXIMUM) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("9", "KES 9 is below the KES 10 minimum"),
        ("1", "KES 1 is below the KES 10 minimum"),
        ("250001", "KES 250,001 is over the KES 250,000 limit per transaction"),
    ],
)
def test_b2c_limits_refuse(raw: str, message: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(raw, minimum=B2C_MINIMUM, maximum=DEFAULT_MAXIMUM)
    assert str(caught.value) == message


def test_maximum_is_a_parameter() -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount("150,001", minimum=STK_MINIMUM, maximum=150_000)
    assert str(caught.value) == "KES 150,001 is over the KES 150,000 limit per transaction"


def test_amount_error_is_a_value_error() -> None:
    assert issubclass(AmountError, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (150, 150),
        (150.0, 150),
        (150.00, 150),
        ("150", 150),
        ("150.00", 150),
        (" 150.00 ", 150),
        ("1,500", 1500),
        ("1,500.00", 1500),
        ("KES 1,500", 1500),
        (0, 0),
        (0.0, 0),
        ("-213.00", -213),
        (-213.0, -213),
        (250_000, 250_000),
    ],
)
def test_whole_shillings_accepts(value: object, expected: int) -> None:
    actual = whole_shillings(value)
    assert actual == expected
    assert type(actual) is int


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        "1.5",
        "150.01",
        150.000001,
        True,
        False,
        None,
        "",
        "abc",
        "1,50",
        float("nan"),
        float("inf"),
        [150],
        {"Amount": 150},
        b"150",
    ],
)
def test_whole_shillings_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        whole_shillings(value)


def test_whole_shillings_names_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        whole_shillings(1.5)
    assert str(caught.value) == "1.5 is not a whole number of shillings"


@pytest.mark.parametrize(
    ("amount", "text"),
    [(1500, "KES 1,500"), (1, "KES 1"), (250_000, "KES 250,000"), (0, "KES 0")],
)
def test_format_kes(amount: int, text: str) -> None:
    assert format_kes(amount) == text


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (2_500_000, "KES 25,000.00"),
        (2_500_050, "KES 25,000.50"),
        (5, "KES 0.05"),
        (-21_300, "KES -213.00"),
        (0, "KES 0.00"),
    ],
)
def test_format_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text
