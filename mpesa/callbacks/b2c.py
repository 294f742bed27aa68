"""B2C payout results and queue time-out notices."""

from __future__ import annotations

from mpesa.callbacks._parsing import Body
from mpesa.callbacks._parsing import build
from mpesa.callbacks._parsing import details
from mpesa.callbacks._parsing import find_ids
from mpesa.callbacks._parsing import load
from mpesa.callbacks._parsing import result_parts
from mpesa.callbacks._parsing import split_party
from mpesa.models.callbacks import RESULT_ENVELOPE
from mpesa.models.callbacks import B2CItems
from mpesa.models.callbacks import B2CResult
from mpesa.models.callbacks import QueueTimeout


def parse_b2c_result(body: Body) -> B2CResult:
    """Parse a B2C payout result (Result envelope, ResultParameters looked up by Key)."""
    result, items = result_parts(body)
    found = details(B2CItems, items)
    msisdn, name = split_party(found.pop("receiver"))
    data = {
        **result,
        **found,
        "parameters": items.as_dict(),
        "receiver_name": name,
        "receiver_msisdn": msisdn,
    }
    return build(B2CResult, data, RESULT_ENVELOPE)


def parse_b2c_timeout(body: Body) -> QueueTimeout:
    """Parse a queue time-out notice: any JSON object, ids taken from wherever they appear."""
    root = load(body)
    return QueueTimeout(**find_ids(root), raw=root)
