"""Account Balance results: one ``name|KES|current|available|reserved|uncleared`` per account."""

from __future__ import annotations

from mpesa.callbacks._parsing import Body
from mpesa.callbacks._parsing import build
from mpesa.callbacks._parsing import details
from mpesa.callbacks._parsing import result_parts
from mpesa.models.callbacks import RESULT_ENVELOPE
from mpesa.models.callbacks import AccountBalanceItems
from mpesa.models.callbacks import AccountBalanceResult
from mpesa.models.callbacks import BalanceAccount
from mpesa.models.values import cents


def parse_account_balance_result(body: Body) -> AccountBalanceResult:
    """Parse an Account Balance result, splitting the "name|KES|current|available|..." string."""
    result, items = result_parts(body)
    found = details(AccountBalanceItems, items)
    balance = found.pop("account_balance")
    data = {
        **result,
        **found,
        "parameters": items.as_dict(),
        "accounts": parse_balance_string(balance) if isinstance(balance, str) else [],
    }
    return build(AccountBalanceResult, data, RESULT_ENVELOPE)


def parse_balance_string(text: str) -> list[BalanceAccount]:
    """Split "Working Account|KES|25000.00|25000.00|0.00|0.00&Utility Account|..." into accounts."""
    accounts = []
    for chunk in text.split("&"):
        fields = [part.strip() for part in chunk.split("|")]
        if not fields[0]:
            continue  # an empty segment, e.g. after a trailing "&"
        numbers = [cents(part) for part in fields[2:6]]
        numbers += [None] * (4 - len(numbers))
        accounts.append(
            BalanceAccount(
                name=fields[0],
                currency=fields[1] if len(fields) > 1 else "",
                current_cents=numbers[0],
                available_cents=numbers[1],
                reserved_cents=numbers[2],
                uncleared_cents=numbers[3],
            )
        )
    return accounts
