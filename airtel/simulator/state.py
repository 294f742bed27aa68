"""What the Airtel simulator remembers: tokens, collections, payouts, refunds, wallets, warnings.

Its snapshot and token book-keeping is a twin of ``mpesa/simulator/state.py``: ``airtel/`` and
``mpesa/`` stand alone and import nothing from each other, so the shared shape is kept twice on
purpose rather than in a third package.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from airtel.simulator.config import Faults
from airtel.simulator.config import Portal
from airtel.simulator.config import SimulatorConfig
from airtel.simulator.keys import default_private_key
from airtel.simulator.scenarios import CUSTOMER_FIRST_NAME
from airtel.simulator.scenarios import CUSTOMER_LAST_NAME
from airtel.simulator.scenarios import CollectionOutcome
from airtel.simulator.scenarios import PayoutOutcome
from airtel.simulator.scenarios import Settle
from airtel.simulator.validation import Checker
from airtel.simulator.validation import Family
from airtel.simulator.validation import Warning_

_TOKEN_CHARS = string.ascii_letters + string.digits
_ID_CHARS = string.ascii_uppercase + string.digits


class Phase(StrEnum):
    """Where a simulated transaction stands, as enquiries report it."""

    IN_PROGRESS = "TIP"
    AMBIGUOUS = "TA"
    SUCCESS = "TS"
    FAILED = "TF"


@dataclass
class Collection:
    """One USSD push payment; ``amount`` in shillings, ``msisdn`` in Airtel's 9-digit form."""

    transaction_id: str
    msisdn: str
    amount: int
    reference: str
    created_at: datetime
    outcome: CollectionOutcome
    phase: Phase = Phase.IN_PROGRESS
    settle_due_at: datetime | None = None  # for outcomes that settle without a callback
    settled_at: datetime | None = None
    airtel_money_id: str = ""
    response_code: str = "DP00800001006"
    message: str = "Transaction in pending state. Please check after sometime."
    refunded: bool = False

    @property
    def pending(self) -> bool:
        """True until the scripted outcome is applied."""
        return self.settled_at is None


@dataclass
class Disbursement:
    """One payout; ``amount`` in shillings, ``msisdn`` in Airtel's 9-digit form."""

    transaction_id: str
    msisdn: str
    amount: int
    reference: str
    version: str
    wallet_type: str
    created_at: datetime
    outcome: PayoutOutcome
    phase: Phase = Phase.IN_PROGRESS
    settle_due_at: datetime | None = None
    settled_at: datetime | None = None
    airtel_money_id: str = ""
    reference_id: str = ""
    response_code: str = "DP00900001006"
    message: str = ""
    balance_after: int | None = None

    @property
    def pending(self) -> bool:
        """True until the scripted outcome is applied."""
        return self.settled_at is None


@dataclass
class Refund:
    """A full refund of a paid collection."""

    airtel_money_id: str
    transaction_id: str
    amount: int
    created_at: datetime


@dataclass
class Delivery:
    """One callback the simulator POSTed (or dropped): where, what, and the receiver's answer."""

    kind: str
    url: str | None
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    error: str | None = None
    dropped: bool = False


@dataclass
class Call:
    """One product request the simulator answered (or dropped): for "sent once" assertions."""

    method: str
    path: str
    status: int | None = None  # None while the answer is held back, or when dropped
    dropped: bool = False  # the connection was closed without an answer


@dataclass
class SimulatorState:
    """Everything the simulator knows; ``POST /simulator/reset`` forgets all but tokens."""

    config: SimulatorConfig
    tokens: dict[str, datetime] = field(default_factory=dict)
    faults: Faults = field(init=False)
    portal: Portal = field(init=False)
    collection_balance: int = field(init=False)
    disbursement_balance: int = field(init=False)
    collections: dict[str, Collection] = field(init=False)
    disbursements: dict[str, Disbursement] = field(init=False)
    refunds: dict[str, Refund] = field(init=False)
    deliveries: list[Delivery] = field(init=False)
    calls: list[Call] = field(init=False)
    warnings: list[Warning_] = field(init=False)
    private_key: rsa.RSAPrivateKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._serial = itertools.count(1)
        self.private_key = self.config.private_key or default_private_key()
        self.portal = copy.deepcopy(self.config.portal)
        self.reset()

    def reset(self) -> None:
        """Forget every transaction, delivery and warning; restore wallets and faults."""
        self.faults = copy.deepcopy(self.config.faults)
        self.collection_balance = self.config.initial_collection_balance
        self.disbursement_balance = self.config.initial_disbursement_balance
        self.collections = {}
        self.disbursements = {}
        self.refunds = {}
        self.deliveries = []
        self.calls = []
        self.warnings = []

    def count_calls(self, method: str, path: str) -> int:
        """How many ``method path`` requests reached the simulator."""
        return sum(1 for call in self.calls if (call.method, call.path) == (method, path))

    def now(self) -> datetime:
        """The simulator's current time (aware)."""
        return self.config.clock()

    def checker(self, body: Mapping[str, Any], *, path: str, family: Family) -> Checker:
        """A checker for one request body, at the configured level, warning into ``warnings``."""
        return Checker(body, path=path, family=family, level=self.config.level, sink=self.warnings)

    # tokens

    def issue_token(self) -> str:
        """A new access token valid for ``token_ttl_s`` seconds."""
        token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(32))
        self.tokens[token] = self.now() + timedelta(seconds=self.config.token_ttl_s)
        return token

    def token_valid(self, token: str) -> bool:
        """True when ``token`` was issued here and has not expired."""
        expires_at = self.tokens.get(token)
        return expires_at is not None and self.now() < expires_at

    def expire_tokens(self) -> int:
        """Expire every token issued so far (the next call gets invalid_token); return how many."""
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # ids

    def airtel_money_id(self) -> str:
        """A receipt like ``MP261120.1430.K00042`` (Airtel's KE format is unknown)."""
        now = self.now()
        return f"MP{now:%y%m%d.%H%M}.K{next(self._serial):05d}"

    def reference_id(self) -> str:
        """Airtel's own reference for a payout (``reference_id``)."""
        return "".join(secrets.choice(_ID_CHARS) for _ in range(12))

    # transactions

    def settle_due(self) -> None:
        """Settle the transactions whose silent or ambiguous period has passed."""
        now = self.now()
        for collection in self.collections.values():
            due = collection.settle_due_at
            if collection.pending and due is not None and now >= due:
                self.settle_collection(collection)
        for payout in self.disbursements.values():
            due = payout.settle_due_at
            if payout.pending and due is not None and now >= due:
                self.settle_disbursement(payout)

    def settle_collection(self, collection: Collection) -> None:
        """Apply a prompt's scripted outcome; a payment credits the collection wallet."""
        if not collection.pending:
            return
        outcome = collection.outcome
        collection.settled_at = self.now()
        collection.response_code = outcome.response_code
        collection.message = outcome.message
        if outcome.status == "TS" and self._within_daily_limit(collection):
            collection.phase = Phase.SUCCESS
            collection.airtel_money_id = self.airtel_money_id()
            collection.message = (
                f"Paid KES {collection.amount} to the merchant. "
                f"Trans ID {collection.airtel_money_id}."
            )
            self.collection_balance += collection.amount
        elif outcome.status == "TS":
            collection.phase = Phase.FAILED
            collection.response_code = "DP00800001003"
            collection.message = "Exceeds withdrawal amount limit(s)"
        else:
            collection.phase = Phase.FAILED

    def unsettled_phase(self, collection: Collection) -> Phase:
        """What an enquiry reports before the outcome is applied."""
        if collection.outcome.settle is Settle.AMBIGUOUS:
            return Phase.AMBIGUOUS
        return Phase.IN_PROGRESS

    def settle_disbursement(self, payout: Disbursement) -> None:
        """Apply a payout's final outcome; a payment debits the disbursement wallet."""
        if not payout.pending:
            return
        outcome = payout.outcome
        payout.settled_at = self.now()
        payout.response_code = outcome.final_code
        if outcome.final_status == "TS":
            payout.phase = Phase.SUCCESS
            payout.airtel_money_id = payout.airtel_money_id or self.airtel_money_id()
            payout.reference_id = payout.reference_id or self.reference_id()
            if payout.balance_after is None:
                self.disbursement_balance -= payout.amount
                payout.balance_after = self.disbursement_balance
            payout.message = (
                f"You have sent KES {payout.amount}.00 to {payout.msisdn} "
                f"{CUSTOMER_FIRST_NAME} {CUSTOMER_LAST_NAME}. "
                f"Bal KES {payout.balance_after}.00. TID: {payout.reference_id}"
            )
        else:
            payout.phase = Phase.FAILED
            payout.message = outcome.message or "Transaction failed"

    def daily_paid(self, msisdn: str, *, day: datetime) -> int:
        """Shillings ``msisdn`` paid on ``day`` (UTC date), for the payer's daily limit."""
        return sum(
            c.amount
            for c in self.collections.values()
            if c.msisdn == msisdn
            and c.phase is Phase.SUCCESS
            and c.settled_at is not None
            and c.settled_at.date() == day.date()
        )

    def _within_daily_limit(self, collection: Collection) -> bool:
        paid = self.daily_paid(collection.msisdn, day=self.now())
        return paid + collection.amount <= self.config.payer_daily_limit

    def paid_collection(self, airtel_money_id: str) -> Collection | None:
        """The paid collection with this receipt, if any."""
        return next(
            (
                c
                for c in self.collections.values()
                if c.phase is Phase.SUCCESS and c.airtel_money_id == airtel_money_id
            ),
            None,
        )

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready picture of the state for tests and the demo."""
        return {
            "balances": {
                "collection": self.collection_balance,
                "disbursement": self.disbursement_balance,
            },
            "faults": self.faults.snapshot(),
            "portal": self.portal.snapshot(),
            "collections": [
                _jsonable(c) | {"pending": c.pending} for c in self.collections.values()
            ],
            "disbursements": [
                _jsonable(d) | {"pending": d.pending} for d in self.disbursements.values()
            ],
            "refunds": [_jsonable(r) for r in self.refunds.values()],
            "deliveries": [_jsonable(d) for d in self.deliveries],
            "calls": [_jsonable(c) for c in self.calls],
            "warnings": [_jsonable(w) for w in self.warnings],
        }


def _jsonable(record: object) -> dict[str, object]:
    """A record dataclass as a dict with ISO datetimes."""
    data = dataclasses.asdict(record)  # type: ignore[call-overload]
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in data.items()
    }
