"""What the simulator remembers: tokens, STK prompts, payouts, payments received, balances."""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from enum import StrEnum

from mpesa.simulator.config import Faults
from mpesa.simulator.config import SimulatorConfig
from mpesa.simulator.credentials import SimulatorKeys
from mpesa.simulator.credentials import default_keys
from mpesa.simulator.ids import IdFactory
from mpesa.simulator.ids import access_token
from mpesa.simulator.scenarios import B2C_UNREGISTERED_MSISDN
from mpesa.simulator.scenarios import INITIATOR_INVALID_DESC
from mpesa.simulator.scenarios import INSUFFICIENT_DESC
from mpesa.simulator.scenarios import SUCCESS_DESC
from mpesa.simulator.scenarios import UNREGISTERED_DESC
from mpesa.simulator.scenarios import StkOutcome

log = logging.getLogger(__name__)


class PayoutStatus(StrEnum):
    """Where a simulated B2C payout stands."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass
class Prompt:
    """One STK Push prompt on a customer's phone; ``amount`` in shillings."""

    checkout_request_id: str
    merchant_request_id: str
    shortcode: str
    msisdn: str
    amount: int
    reference: str
    callback_url: str
    created_at: datetime
    outcome: StkOutcome
    settle_due_at: datetime | None = None  # only for prompts that never call back
    settled_at: datetime | None = None
    receipt: str | None = None

    @property
    def pending(self) -> bool:
        """Tell whether the customer has not answered yet."""
        return self.settled_at is None


@dataclass
class Payout:
    """One B2C payment request and, once settled, its result; ``amount`` in shillings."""

    originator_conversation_id: str
    conversation_id: str
    initiator_name: str
    command_id: str
    party_a: str
    msisdn: str
    amount: int
    remarks: str
    occasion: str
    result_url: str
    timeout_url: str
    created_at: datetime
    credential_ok: bool = True  # the SecurityCredential decrypted to the initiator password
    status: PayoutStatus = PayoutStatus.PENDING
    result_code: int | None = None
    result_desc: str = ""
    receipt: str | None = None
    completed_at: datetime | None = None
    utility_balance_after: int | None = None


@dataclass
class Payment:
    """Money received by a shortcode (STK or C2B), reversible; ``amount`` in shillings."""

    receipt: str
    channel: str  # "stk" or "c2b"
    shortcode: str
    msisdn: str
    amount: int
    reference: str
    originator_id: str  # MerchantRequestID for STK, empty for C2B
    completed_at: datetime
    reversed_by: str | None = None


@dataclass
class Reversal:
    """A completed reversal of a received payment; ``amount`` in shillings."""

    receipt: str
    original_receipt: str
    shortcode: str
    msisdn: str
    amount: int
    completed_at: datetime


@dataclass
class C2BRegistration:
    """The URLs a shortcode registered for C2B; ``version`` 1 hashes MSISDNs, 2 masks them."""

    shortcode: str
    response_type: str
    confirmation_url: str
    validation_url: str
    version: int


@dataclass(frozen=True)
class RequestWarning:
    """Something Daraja might not refuse but a careful client would not send."""

    path: str
    field: str
    message: str


@dataclass
class Delivery:
    """One POST the simulator made (or dropped): where, what, and what the receiver answered."""

    kind: str
    url: str
    body: dict[str, object]
    status: int | None = None
    error: str | None = None
    dropped: bool = False


@dataclass
class SimulatorState:
    """Everything the simulator knows; reset by ``POST /simulator/reset`` (tokens survive)."""

    config: SimulatorConfig
    faults: Faults = field(init=False)
    utility_balance: int = field(init=False)
    working_balance: int = field(init=False)
    tokens: dict[str, datetime] = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(init=False)
    payouts: dict[str, Payout] = field(init=False)
    payments: dict[str, Payment] = field(init=False)
    reversals: dict[str, Reversal] = field(init=False)
    c2b: dict[str, C2BRegistration] = field(init=False)
    deliveries: list[Delivery] = field(init=False)
    warnings: list[RequestWarning] = field(init=False)
    ids: IdFactory = field(init=False)
    keys: SimulatorKeys = field(init=False)

    def __post_init__(self) -> None:
        self.keys = self.config.keys or default_keys()
        self.reset()

    def reset(self) -> None:
        """Forget every transaction and delivery; restore balances and faults from the config."""
        self.faults = copy.deepcopy(self.config.faults)
        self.utility_balance = self.config.initial_utility_balance
        self.working_balance = self.config.initial_working_balance
        self.prompts = {}
        self.payouts = {}
        self.payments = {}
        self.reversals = {}
        self.c2b = {}
        self.deliveries = []
        self.warnings = []
        self.ids = IdFactory()

    def warn(self, path: str, field_name: str, message: str) -> None:
        """Record and log a warning about a request (visible in ``GET /simulator/state``)."""
        warning = RequestWarning(path=path, field=field_name, message=message)
        self.warnings.append(warning)
        log.warning("sim.warning path=%s field=%s %s", path, field_name, message)

    def warner(self, path: str) -> Callable[[str, str], None]:
        """Return ``warn`` bound to one request path: ``warner(path)(field, message)``."""
        return functools.partial(self.warn, path)

    def credential_ok(self, credential: str) -> bool:
        """Tell whether a SecurityCredential decrypts to the configured initiator password."""
        password = self.keys.decrypt(credential)
        if password is None:
            log.info("sim.credential.refused reason=not encrypted with the simulator's certificate")
            return False
        if password != self.config.initiator_password:
            log.info("sim.credential.refused reason=decrypts to another password")
            return False
        return True

    def now(self) -> datetime:
        """Return the simulator's current time (aware, Nairobi)."""
        return self.config.clock()

    # tokens

    def issue_token(self) -> str:
        """Create an access token valid for ``token_ttl_s`` seconds."""
        token = access_token()
        self.tokens[token] = self.now() + timedelta(seconds=self.config.token_ttl_s)
        return token

    def token_valid(self, token: str) -> bool:
        """Tell whether ``token`` was issued here and has not expired."""
        expires_at = self.tokens.get(token)
        return expires_at is not None and self.now() < expires_at

    # STK prompts

    def open_prompt(self, msisdn: str) -> Prompt | None:
        """Return the unanswered prompt on ``msisdn``, if any."""
        self.settle_due()
        return next((p for p in self.prompts.values() if p.msisdn == msisdn and p.pending), None)

    def settle_due(self) -> None:
        """Settle prompts that never call back once their ``query_pending_s`` has passed."""
        now = self.now()
        for prompt in self.prompts.values():
            if prompt.pending and prompt.settle_due_at is not None and now >= prompt.settle_due_at:
                self.settle_prompt(prompt)

    def settle_prompt(self, prompt: Prompt) -> None:
        """Apply the prompt's scripted outcome; a success gets a receipt and credits the balance."""
        if not prompt.pending:
            return
        prompt.settled_at = self.now()
        if prompt.outcome.result_code != 0:
            return
        prompt.receipt = self.ids.receipt(prompt.settled_at)
        self.utility_balance += prompt.amount
        self.payments[prompt.receipt] = Payment(
            receipt=prompt.receipt,
            channel="stk",
            shortcode=prompt.shortcode,
            msisdn=prompt.msisdn,
            amount=prompt.amount,
            reference=prompt.reference,
            originator_id=prompt.merchant_request_id,
            completed_at=prompt.settled_at,
        )

    # payouts

    def settle_payout(self, payout: Payout) -> None:
        """Decide and apply a payout's outcome: initiator, recipient, then utility funds."""
        if payout.status is not PayoutStatus.PENDING:
            return
        payout.completed_at = self.now()
        if payout.initiator_name != self.config.initiator_name or not payout.credential_ok:
            self._fail_payout(payout, 2001, INITIATOR_INVALID_DESC)
        elif payout.msisdn == B2C_UNREGISTERED_MSISDN:
            self._fail_payout(payout, 2040, UNREGISTERED_DESC)
        elif payout.amount > self.utility_balance:
            self._fail_payout(payout, 1, INSUFFICIENT_DESC)
        else:
            self.utility_balance -= payout.amount
            payout.status = PayoutStatus.COMPLETED
            payout.result_code = 0
            payout.result_desc = SUCCESS_DESC
            payout.receipt = self.ids.receipt(payout.completed_at)
        payout.utility_balance_after = self.utility_balance

    def _fail_payout(self, payout: Payout, code: int, desc: str) -> None:
        payout.status = PayoutStatus.FAILED
        payout.result_code = code
        payout.result_desc = desc

    # received payments

    def receive_c2b(
        self, *, receipt: str, shortcode: str, msisdn: str, amount: int, reference: str
    ) -> Payment:
        """Record a completed C2B payment under its validation-time receipt; credit the balance."""
        now = self.now()
        payment = Payment(
            receipt=receipt,
            channel="c2b",
            shortcode=shortcode,
            msisdn=msisdn,
            amount=amount,
            reference=reference,
            originator_id="",
            completed_at=now,
        )
        self.utility_balance += amount
        self.payments[payment.receipt] = payment
        return payment

    def reverse(self, payment: Payment) -> Reversal:
        """Reverse a received payment in full, debiting the balance."""
        now = self.now()
        reversal = Reversal(
            receipt=self.ids.receipt(now),
            original_receipt=payment.receipt,
            shortcode=payment.shortcode,
            msisdn=payment.msisdn,
            amount=payment.amount,
            completed_at=now,
        )
        payment.reversed_by = reversal.receipt
        self.utility_balance -= payment.amount
        self.reversals[reversal.receipt] = reversal
        return reversal

    def find_transaction(
        self, *, conversation_id: str | None, receipt: str | None
    ) -> Payout | Payment | Reversal | None:
        """Find a settled transaction by originator/conversation id first, then by receipt."""
        if conversation_id:
            for payout in self.payouts.values():
                known = (payout.originator_conversation_id, payout.conversation_id)
                if conversation_id in known and payout.status is not PayoutStatus.PENDING:
                    return payout
        if receipt:
            for payout in self.payouts.values():
                if payout.receipt == receipt:
                    return payout
            return self.payments.get(receipt) or self.reversals.get(receipt)
        return None

    def snapshot(self) -> dict[str, object]:
        """Return a JSON-ready picture of the state for tests and the demo."""
        return {
            "balances": {"utility": self.utility_balance, "working": self.working_balance},
            "faults": self.faults.snapshot(),
            "prompts": [_jsonable(p) | {"pending": p.pending} for p in self.prompts.values()],
            "payouts": [_jsonable(p) for p in self.payouts.values()],
            "payments": [_jsonable(p) for p in self.payments.values()],
            "reversals": [_jsonable(r) for r in self.reversals.values()],
            "c2b_registrations": [_jsonable(r) for r in self.c2b.values()],
            "deliveries": [_jsonable(d) for d in self.deliveries],
            "warnings": [_jsonable(w) for w in self.warnings],
        }


def _jsonable(record: object) -> dict[str, object]:
    """Turn a record dataclass into a dict with ISO datetimes."""
    data = dataclasses.asdict(record)  # type: ignore[call-overload]
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in data.items()
    }
