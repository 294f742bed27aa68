"""Reversal results posted to our ResultURL."""

from __future__ import annotations

from mpesa.callbacks._parsing import Body, build, details, result_parts
from mpesa.models.callbacks import RESULT_ENVELOPE, ReversalItems, ReversalResult


def parse_reversal_result(body: Body) -> ReversalResult:
    """Parse a Reversal result; ``amount`` in whole shillings."""
    result, items = result_parts(body)
    data = {**result, **details(ReversalItems, items), "parameters": items.as_dict()}
    return build(ReversalResult, data, RESULT_ENVELOPE)
