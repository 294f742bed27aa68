"""Reversal results posted to our ResultURL."""

from __future__ import annotations

from mpesa.callbacks._parsing import Body
from mpesa.callbacks._parsing import build
from mpesa.callbacks._parsing import details
from mpesa.callbacks._parsing import result_parts
from mpesa.models.callbacks import RESULT_ENVELOPE
from mpesa.models.callbacks import ReversalItems
from mpesa.models.callbacks import ReversalResult


def parse_reversal_result(body: Body) -> ReversalResult:
    """Parse a Reversal result; ``amount`` in whole shillings."""
    result, items = result_parts(body)
    data = {**result, **details(ReversalItems, items), "parameters": items.as_dict()}
    return build(ReversalResult, data, RESULT_ENVELOPE)
