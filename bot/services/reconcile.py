"""One reconciliation pass: settle stale payments/payouts, replay callbacks, drain the outbox."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class _Reconcilable(Protocol):
    async def reconcile_pending(self, *, limit: int = 50) -> list[Any]: ...


class _Outbox(Protocol):
    async def run_once(self) -> int: ...


class _Callbacks(Protocol):
    async def replay_pending(self) -> int: ...


@dataclass(frozen=True)
class ReconcileReport:
    """What one pass did: records settled or still waiting per kind, messages delivered."""

    payments_settled: int = 0
    payments_waiting: int = 0
    payouts_settled: int = 0
    payouts_waiting: int = 0
    callbacks_replayed: int = 0
    notifications_delivered: int = 0
    errors: tuple[str, ...] = ()


class Reconciler:
    """Runs every periodic check once; safe in two processes (each step claims rows atomically)."""

    def __init__(
        self,
        payments: _Reconcilable,
        payouts: _Reconcilable,
        outbox: _Outbox,
        *,
        callbacks: _Callbacks | None = None,
        housekeeping: Callable[[], Awaitable[int]] | None = None,
        limit: int = 50,
    ) -> None:
        self.payments = payments
        self.payouts = payouts
        self.outbox = outbox
        self.callbacks = callbacks
        self.housekeeping = housekeeping
        self.limit = limit

    async def run_once(self) -> ReconcileReport:
        """One pass; a failing step is logged and reported, the other steps still run."""
        errors: list[str] = []
        replayed = 0
        if self.callbacks is not None:
            replayed = await self._step("callbacks", errors, self.callbacks.replay_pending, 0)
        payments = await self._step("payments", errors, self._payments, [])
        payouts = await self._step("payouts", errors, self._payouts, [])
        # last, so messages queued by this pass go out in it
        delivered = await self._step("outbox", errors, self.outbox.run_once, 0)
        if self.housekeeping is not None:
            await self._step("housekeeping", errors, self.housekeeping, 0)
        report = ReconcileReport(
            payments_settled=sum(1 for p in payments if _settled(p)),
            payments_waiting=sum(1 for p in payments if not _settled(p)),
            payouts_settled=sum(1 for p in payouts if _settled(p)),
            payouts_waiting=sum(1 for p in payouts if not _settled(p)),
            callbacks_replayed=replayed,
            notifications_delivered=delivered,
            errors=tuple(errors),
        )
        if payments or payouts or replayed or delivered or errors:
            log.info(
                "reconcile.done payments_settled=%d payments_waiting=%d payouts_settled=%d "
                "payouts_waiting=%d replayed=%d delivered=%d errors=%d",
                report.payments_settled,
                report.payments_waiting,
                report.payouts_settled,
                report.payouts_waiting,
                replayed,
                delivered,
                len(errors),
            )
        return report

    async def _payments(self) -> list[Any]:
        return await self.payments.reconcile_pending(limit=self.limit)

    async def _payouts(self) -> list[Any]:
        return await self.payouts.reconcile_pending(limit=self.limit)

    async def _step(
        self, name: str, errors: list[str], step: Callable[[], Awaitable[Any]], empty: Any
    ) -> Any:
        try:
            return await step()
        except Exception as exc:
            log.exception("reconcile.step_failed step=%s", name)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return empty


def _settled(record: Any) -> bool:
    """True when a payment or payout reached a final status."""
    return bool(getattr(record.status, "is_final", False))
