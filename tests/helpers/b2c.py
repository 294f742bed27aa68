"""Builders for B2C-family callbacks, parsed by mpesa.callbacks from the stored Daraja samples."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.notify.notifier import Notifier
from bot.notify.sms import LogOnlySms
from bot.services.accounts import AccountService
from bot.services.container import Services
from bot.services.container import build_services
from bot.services.payouts import PayoutService
from bot.services.reversals import ReversalService
from bot.services.staff import StaffService
from models import DarajaQuery
from models import NotificationChannel
from models import Payout
from models import Staff
from models import StaffRole
from mpesa.callbacks import AccountBalanceResult
from mpesa.callbacks import B2CResult
from mpesa.callbacks import QueueTimeout
from mpesa.callbacks import ReversalResult
from mpesa.callbacks import TransactionStatusResult
from mpesa.callbacks import parse_account_balance_result
from mpesa.callbacks import parse_b2c_result
from mpesa.callbacks import parse_b2c_timeout
from mpesa.callbacks import parse_reversal_result
from mpesa.callbacks import parse_transaction_status_result
from tests.helpers.fakes import FakeDaraja

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "daraja"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of tests/fixtures/daraja/<name>.json."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def _envelope(
    name: str, *, originator: str | None, conversation: str | None, **fields: Any
) -> dict[str, Any]:
    body = sample(name)
    result = body["Result"]
    # None drops the id: Daraja may echo only one of them
    for key, value in (("OriginatorConversationID", originator), ("ConversationID", conversation)):
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    result.update(fields)
    return body


def _set_param(body: dict[str, Any], key: str, value: Any) -> None:
    for item in body["Result"]["ResultParameters"]["ResultParameter"]:
        if item["Key"] == key:
            item["Value"] = value
            return
    body["Result"]["ResultParameters"]["ResultParameter"].append({"Key": key, "Value": value})


def b2c_success(
    *,
    originator: str | None,
    conversation: str | None = "AG_20261120_20104f3c9e7a1b2d5c6e",
    receipt: str = "UKK7R3N9TD",
    amount: int = 500,
    receiver: str = "254708374149 - John Doe",
) -> B2CResult:
    """A successful B2C result (b2c_result_success.json) for our ids."""
    body = _envelope(
        "b2c_result_success",
        originator=originator,
        conversation=conversation,
        TransactionID=receipt,
    )
    _set_param(body, "TransactionReceipt", receipt)
    _set_param(body, "TransactionAmount", amount)
    _set_param(body, "ReceiverPartyPublicName", receiver)
    return parse_b2c_result(body)


def b2c_failure(
    *,
    originator: str | None,
    conversation: str | None = "AG_20261120_2010a8c3e5f7d9b1c2e4",
    code: int | str = 2001,
    desc: str = "The initiator information is invalid.",
) -> B2CResult:
    """A failed B2C result (b2c_result_failure.json: placeholder TransactionID UKK0000000)."""
    body = _envelope(
        "b2c_result_failure",
        originator=originator,
        conversation=conversation,
        ResultCode=code,
        ResultDesc=desc,
    )
    return parse_b2c_result(body)


def b2c_timeout(*, originator: str | None, conversation: str | None = None) -> QueueTimeout:
    """A B2C queue time-out notice (b2c_queue_timeout.json)."""
    return parse_b2c_timeout(
        _envelope("b2c_queue_timeout", originator=originator, conversation=conversation)
    )


def status_result(
    *,
    originator: str,
    conversation: str,
    queried_originator: str,
    status: str = "Completed",
    receipt: str = "UKK7R3N9TD",
    amount: int = 500,
    code: int | str = 0,
) -> TransactionStatusResult:
    """A Transaction Status result (transaction_status_result.json) about a queried payout."""
    body = _envelope(
        "transaction_status_result",
        originator=originator,
        conversation=conversation,
        ResultCode=code,
    )
    _set_param(body, "OriginatorConversationID", queried_originator)
    _set_param(body, "TransactionStatus", status)
    _set_param(body, "ReceiptNo", receipt)
    _set_param(body, "Amount", amount)
    return parse_transaction_status_result(body)


def status_answer(query: DarajaQuery, payout: Payout, **fields: Any) -> TransactionStatusResult:
    """The Transaction Status result answering our ``query`` about ``payout``."""
    return status_result(
        originator=query.originator_conversation_id,
        conversation=query.conversation_id,
        queried_originator=payout.originator_conversation_id,
        **fields,
    )


def balance_result(*, originator: str, conversation: str) -> AccountBalanceResult:
    """An Account Balance result (account_balance_result.json) for our query's ids."""
    return parse_account_balance_result(
        _envelope("account_balance_result", originator=originator, conversation=conversation)
    )


def reversal_result(
    *,
    originator: str,
    conversation: str,
    code: int | str = 0,
    desc: str = "The service request is processed successfully.",
    original: str = "UKK2M8P4RS",
) -> ReversalResult:
    """A Reversal result (reversal_result.json); R000001 etc. as string codes."""
    body = _envelope(
        "reversal_result",
        originator=originator,
        conversation=conversation,
        ResultCode=code,
        ResultDesc=desc,
    )
    if code not in (0, "0"):
        body["Result"].pop("ResultParameters", None)
        body["Result"]["TransactionID"] = "UKK0000000"
    else:
        _set_param(body, "OriginalTransactionID", original)
    return parse_reversal_result(body)


# ---- a small world for payout and account service tests ----------------------------------------

ADMIN, SECOND_ADMIN, THIRD_ADMIN, CASHIER = 1001, 1002, 1003, 2001
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 12:00 in Nairobi


class Clock:
    """A clock tests move by hand (aware UTC)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward by a timedelta's keyword arguments."""
        self.now += timedelta(**delta)


@dataclass
class B2CWorld:
    """The engine's services over a FakeDaraja, with three admins and a cashier."""

    settings: Settings
    clock: Clock
    daraja: FakeDaraja
    services: Services

    # one typed shortcut per service the tests drive, repeated on purpose: a __getattr__ would
    # save the lines but hide from the reader (and the type checker) which services there are
    @property
    def notifier(self) -> Notifier:
        return self.services.notifier

    @property
    def staff(self) -> StaffService:
        return self.services.staff

    @property
    def payouts(self) -> PayoutService:
        return self.services.payouts

    @property
    def reversals(self) -> ReversalService:
        return self.services.reversals

    @property
    def accounts(self) -> AccountService:
        return self.services.accounts


async def b2c_world(settings: Settings) -> B2CWorld:
    """Build the services and the staff (admins 1001 bootstrap, 1002, 1003; cashier 2001)."""
    clock = Clock()
    daraja = FakeDaraja()
    # the production wiring, so these services are put together exactly as `run` does
    sms = {NotificationChannel.SMS: LogOnlySms()}  # receipts are written to the outbox
    services = build_services(settings, daraja=daraja, channels=sms, clock=clock)
    await services.staff.bootstrap_admins()
    await Staff.create(telegram_id=SECOND_ADMIN, role=StaffRole.ADMIN, name="Second")
    await Staff.create(telegram_id=THIRD_ADMIN, role=StaffRole.ADMIN, name="Third")
    await Staff.create(telegram_id=CASHIER, role=StaffRole.CASHIER, name="Cashier")
    return B2CWorld(settings, clock, daraja, services)


# ---- raw bodies, for tests that post callbacks through the inbox -------------------------------


def b2c_success_body(
    *, originator: str | None, conversation: str | None, receipt: str, amount: int
) -> dict[str, Any]:
    """The body of a successful B2C result (b2c_result_success.json) for our ids."""
    body = _envelope(
        "b2c_result_success",
        originator=originator,
        conversation=conversation,
        TransactionID=receipt,
    )
    _set_param(body, "TransactionReceipt", receipt)
    _set_param(body, "TransactionAmount", amount)
    return body


def b2c_failure_body(
    *, originator: str | None, conversation: str | None, code: int | str = 2001
) -> dict[str, Any]:
    """The body of a failed B2C result (b2c_result_failure.json)."""
    return _envelope(
        "b2c_result_failure",
        originator=originator,
        conversation=conversation,
        ResultCode=code,
        ResultDesc="The initiator information is invalid.",
    )


def queue_timeout_body(*, originator: str | None, conversation: str | None) -> dict[str, Any]:
    """The body of a queue time-out notice (b2c_queue_timeout.json): B2C, status or reversal."""
    return _envelope("b2c_queue_timeout", originator=originator, conversation=conversation)


def status_result_body(
    *,
    originator: str,
    conversation: str,
    queried_originator: str | None,
    status: str = "Completed",
    receipt: str | None = None,
    amount: int | None = None,
    code: int | str = 0,
) -> dict[str, Any]:
    """The body of a Transaction Status result (transaction_status_result.json)."""
    body = _envelope(
        "transaction_status_result",
        originator=originator,
        conversation=conversation,
        ResultCode=code,
    )
    if str(code) != "0":
        body["Result"].pop("ResultParameters", None)
        return body
    _set_param(body, "OriginatorConversationID", queried_originator)
    _set_param(body, "TransactionStatus", status)
    _set_param(body, "ReceiptNo", receipt)
    _set_param(body, "Amount", amount)
    return body


def reversal_result_body(
    *, originator: str | None, conversation: str | None, code: int | str, original: str
) -> dict[str, Any]:
    """The body of a Reversal result (reversal_result.json); codes like R000001 as strings."""
    body = _envelope(
        "reversal_result",
        originator=originator,
        conversation=conversation,
        ResultCode=code,
        ResultDesc="The service request is processed successfully."
        if str(code) == "0"
        else "The transaction has already been reversed.",
    )
    if str(code) != "0":
        body["Result"].pop("ResultParameters", None)
        body["Result"]["TransactionID"] = "UKK0000000"
    else:
        _set_param(body, "OriginalTransactionID", original)
    return body
