"""Transaction Status results: the queried transaction is in the parameters."""

from __future__ import annotations

from mpesa.callbacks._parsing import Body
from mpesa.callbacks._parsing import build
from mpesa.callbacks._parsing import details
from mpesa.callbacks._parsing import result_parts
from mpesa.models.callbacks import RESULT_ENVELOPE
from mpesa.models.callbacks import TransactionStatusItems
from mpesa.models.callbacks import TransactionStatusResult


def parse_transaction_status_result(body: Body) -> TransactionStatusResult:
    """Parse a Transaction Status result; the receipt is ReceiptNo (TransactionID is a dummy)."""
    result, items = result_parts(body)
    found = details(TransactionStatusItems, items)
    debit = TransactionStatusItems.alias_of("debit_party_name")
    debit_names = items.get_all(debit)
    if found["credit_party_name"] is None and len(debit_names) > 1:
        # Safaricom's own sample repeats DebitPartyName where the second one is the credit party
        second = TransactionStatusItems.model_validate({debit: debit_names[1]})
        found["credit_party_name"] = second.debit_party_name
    data = {**result, **found, "parameters": items.as_dict()}
    return build(TransactionStatusResult, data, RESULT_ENVELOPE)
