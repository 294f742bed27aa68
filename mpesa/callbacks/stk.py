"""The STK Push callback (Body.stkCallback): items found by Name, never by position."""

from __future__ import annotations

from mpesa.callbacks._parsing import STK_WHERE
from mpesa.callbacks._parsing import Body
from mpesa.callbacks._parsing import build
from mpesa.callbacks._parsing import details
from mpesa.callbacks._parsing import stk_parts
from mpesa.models.callbacks import StkCallback
from mpesa.models.callbacks import StkItems


def parse_stk_callback(body: Body) -> StkCallback:
    """Parse an STK Push callback; metadata only on success, amount in whole shillings."""
    stk, items = stk_parts(body)
    return build(StkCallback, {**stk, **details(StkItems, items)}, STK_WHERE)
