"""Daraja's field names have one home, ``mpesa/models/``; the rest of the library uses it."""

from __future__ import annotations

import ast
from pathlib import Path

import pydantic

import mpesa.models
import mpesa.models.callbacks as callback_models

MPESA = Path(mpesa.models.__file__).resolve().parents[1]
# the simulator plays Daraja itself: it writes Daraja's bodies by hand, as Safaricom does
OTHER_SIDE = {MPESA / "simulator"}


def daraja_names() -> set[str]:
    """Every alias of every model in mpesa.models, and the nesting names the parsers walk."""
    names: set[str] = set()
    for module in (mpesa.models, callback_models):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, pydantic.BaseModel):
                names |= {f.alias for f in value.model_fields.values() if f.alias}
    for constant in (
        callback_models.STK_ENVELOPE,
        callback_models.STK_ITEMS,
        callback_models.RESULT_ITEMS,
        callback_models.ITEM_NAME_KEYS,
        (callback_models.RESULT_ENVELOPE, callback_models.ITEM_VALUE_KEY),
        tuple(callback_models.TIMEOUT_ID_KEYS),
    ):
        names |= set(constant)
    return names


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_models_know_the_names_this_test_looks_for() -> None:
    names = daraja_names()

    assert {"CheckoutRequestID", "MpesaReceiptNumber", "Occassion", "errorCode"} <= names
    assert {"ReceiverPartyPublicName", "stkCallback", "ResultParameter"} <= names


def test_no_module_outside_the_models_spells_a_daraja_field_name() -> None:
    names = daraja_names()
    offenders = []
    for path in sorted(MPESA.rglob("*.py")):
        if path.is_relative_to(MPESA / "models") or any(path.is_relative_to(p) for p in OTHER_SIDE):
            continue
        offenders += [
            f"{path.relative_to(MPESA.parent)}:{line} {text!r}"
            for line, text in string_literals(path)
            if text in names
        ]

    assert offenders == []
