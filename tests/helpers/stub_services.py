"""Small stand-ins for the payment, C2B, payout and account services, for web and inbox tests."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from bot.services.outcome import ApplyOutcome
from models import CallbackKind
from mpesa.callbacks import c2b_accept


@dataclass
class StubPayments:
    """Answers apply_stk_callback from ``outcomes`` by CheckoutRequestID (default APPLIED)."""

    outcomes: dict[str, ApplyOutcome] = field(default_factory=dict)
    applied: list[Any] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)
    fail_with: BaseException | None = None
    replay_unmatched: Callable[[CallbackKind, str], Awaitable[int]] | None = None

    async def apply_stk_callback(self, cb: Any) -> ApplyOutcome:
        if self.fail_with is not None:
            raise self.fail_with
        self.applied.append(cb)
        return self.outcomes.get(cb.checkout_request_id, ApplyOutcome.APPLIED)

    async def reconcile_pending(self, *, limit: int = 50) -> list[Any]:
        return list(self.pending)


@dataclass
class StubC2B:
    """Accepts every validation (or answers ``validation_answer``); confirms with ``outcome``."""

    validation_answer: dict[str, Any] = field(default_factory=c2b_accept)
    outcome: ApplyOutcome = ApplyOutcome.APPLIED
    validated: list[Any] = field(default_factory=list)
    confirmed: list[Any] = field(default_factory=list)

    async def validate(self, p: Any) -> dict[str, Any]:
        self.validated.append(p)
        return self.validation_answer

    async def confirm(self, p: Any) -> ApplyOutcome:
        self.confirmed.append(p)
        return self.outcome


@dataclass
class StubPayouts:
    """Answers B2C results and time-outs with ``outcome``; records what it got."""

    outcome: ApplyOutcome = ApplyOutcome.APPLIED
    results: list[Any] = field(default_factory=list)
    timeouts: list[Any] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)
    replay_unmatched: Callable[[CallbackKind, str], Awaitable[int]] | None = None

    async def apply_b2c_result(self, r: Any) -> ApplyOutcome:
        self.results.append(r)
        return self.outcome

    async def apply_b2c_timeout(self, t: Any) -> ApplyOutcome:
        self.timeouts.append(t)
        return self.outcome

    async def reconcile_pending(self, *, limit: int = 50) -> list[Any]:
        return list(self.pending)


@dataclass
class StubAccounts:
    """Answers status, balance, reversal results and query time-outs with ``outcome``."""

    outcome: ApplyOutcome = ApplyOutcome.APPLIED
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def apply_status_result(self, r: Any) -> ApplyOutcome:
        self.calls.append(("status", r))
        return self.outcome

    async def apply_balance_result(self, r: Any) -> ApplyOutcome:
        self.calls.append(("balance", r))
        return self.outcome

    async def apply_reversal_result(self, r: Any) -> ApplyOutcome:
        self.calls.append(("reversal", r))
        return self.outcome

    async def apply_query_timeout(self, kind: CallbackKind, t: Any) -> ApplyOutcome:
        self.calls.append((f"timeout:{kind.value}", t))
        return self.outcome

    async def apply_timeout(self, t: Any) -> ApplyOutcome:
        """A reversal's queue time-out (this stub stands in for the reversals service too)."""
        self.calls.append((f"timeout:{CallbackKind.REVERSAL_TIMEOUT.value}", t))
        return self.outcome


@dataclass
class StubDomain:
    """The domain services a CallbackService needs, as stubs."""

    payments: StubPayments = field(default_factory=StubPayments)
    c2b: StubC2B = field(default_factory=StubC2B)
    payouts: StubPayouts = field(default_factory=StubPayouts)
    accounts: StubAccounts = field(default_factory=StubAccounts)

    @property
    def reversals(self) -> StubAccounts:
        """Reversal results and time-outs land in the accounts stub's calls."""
        return self.accounts
