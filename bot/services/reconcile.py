"""One reconciliation pass over every money intent, the callback inbox and the outbox.

Payments, payouts and reversals walk the same states (intents.py): a crashed send becomes
unknown, an unknown is asked about, and what a query cannot settle goes to the admins. Every step
claims its rows with a lease, so passes in several processes never work on the same row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

log = logging.getLogger(__name__)

MAX_PASSES = 1000
IDLE_S = 0.5  # between passes when only rows other processes hold are left


class _Reconcilable(Protocol):
    async def reconcile_pending(self, *, limit: int = 50) -> list[Any]: ...
    async def due(self) -> int: ...


class _Outbox(Protocol):
    async def run_once(self) -> int: ...
    async def due(self) -> int: ...


class _Callbacks(Protocol):
    async def replay_pending(self) -> int: ...


class _Batches(Protocol):
    async def settle_batches(self) -> int: ...
    async def report_progress(self) -> int: ...


@dataclass(frozen=True)
class ReconcileReport:
    """What one pass did: records settled or still waiting per kind, messages delivered."""

    payments_settled: int = 0
    payments_waiting: int = 0
    payouts_settled: int = 0
    payouts_waiting: int = 0
    reversals_settled: int = 0
    reversals_waiting: int = 0
    callbacks_replayed: int = 0
    notifications_delivered: int = 0
    errors: tuple[str, ...] = ()

    @property
    def waiting(self) -> int:
        """Records worked on that are not settled yet."""
        return self.payments_waiting + self.payouts_waiting + self.reversals_waiting

    @property
    def busy(self) -> bool:
        """True when the pass did anything at all."""
        settled = self.payments_settled + self.payouts_settled + self.reversals_settled
        return bool(
            settled or self.waiting or self.callbacks_replayed or self.notifications_delivered
        )


@dataclass
class ReconcileRun:
    """What passes until nothing was due did: summed figures, errors, rows left to others."""

    passes: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    still_due: int = 0


class Reconciler:
    """Runs every periodic check once; safe in two processes (each step claims rows atomically)."""

    def __init__(
        self,
        payments: _Reconcilable,
        payouts: _Reconcilable,
        outbox: _Outbox,
        *,
        reversals: _Reconcilable | None = None,
        callbacks: _Callbacks | None = None,
        housekeeping: Callable[[], Awaitable[int]] | None = None,
        batches: _Batches | None = None,
        limit: int = 50,
    ) -> None:
        self.payments = payments
        self.payouts = payouts
        self.reversals = reversals
        self.outbox = outbox
        self.callbacks = callbacks
        self.housekeeping = housekeeping
        self.batches = batches
        self.limit = limit

    async def run_once(self) -> ReconcileReport:
        """One pass; a failing step is logged and reported, the other steps still run."""
        errors: list[str] = []
        replayed = 0
        if self.callbacks is not None:
            replayed = await self._step("callbacks", errors, self.callbacks.replay_pending, 0)
        payments = await self._step("payments", errors, self._payments, [])
        payouts = await self._step("payouts", errors, self._payouts, [])
        reversals = await self._step("reversals", errors, self._reversals, [])
        if self.batches is not None:
            # bulk batches whose last rows were settled by this pass: progress, results
            await self._step("batches", errors, self._batches, 0)
        # last, so messages queued by this pass go out in it
        delivered = await self._step("outbox", errors, self.outbox.run_once, 0)
        if self.housekeeping is not None:
            await self._step("housekeeping", errors, self.housekeeping, 0)
        report = ReconcileReport(
            payments_settled=sum(1 for p in payments if _settled(p)),
            payments_waiting=sum(1 for p in payments if not _settled(p)),
            payouts_settled=sum(1 for p in payouts if _settled(p)),
            payouts_waiting=sum(1 for p in payouts if not _settled(p)),
            reversals_settled=sum(1 for r in reversals if _settled(r)),
            reversals_waiting=sum(1 for r in reversals if not _settled(r)),
            callbacks_replayed=replayed,
            notifications_delivered=delivered,
            errors=tuple(errors),
        )
        if payments or payouts or reversals or replayed or delivered or errors:
            log.info(
                "reconcile.done payments_settled=%d payments_waiting=%d payouts_settled=%d "
                "payouts_waiting=%d reversals_settled=%d reversals_waiting=%d replayed=%d "
                "delivered=%d errors=%d",
                report.payments_settled,
                report.payments_waiting,
                report.payouts_settled,
                report.payouts_waiting,
                report.reversals_settled,
                report.reversals_waiting,
                replayed,
                delivered,
                len(errors),
            )
        return report

    async def run_until_done(
        self,
        *,
        patience_s: float,
        on_pass: Callable[[int, ReconcileReport], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        idle_s: float = IDLE_S,
    ) -> ReconcileRun:
        """Run passes until nothing is due, whatever other processes run at the same time.

        A pass may find its rows taken by another process; that is no reason to stop. When all
        that is still due is held by others, this waits for them to finish (or for their leases
        to lapse, when it takes them over), at most ``patience_s`` without progress.
        """
        run = ReconcileRun()
        idle_since: float | None = None
        while run.passes < MAX_PASSES:
            run.passes += 1
            report = await self.run_once()
            for name, value in vars(report).items():
                if isinstance(value, int):
                    run.totals[name] = run.totals.get(name, 0) + value
            run.errors.extend(report.errors)
            if on_pass is not None:
                on_pass(run.passes, report)
            run.still_due = 0 if run.errors else await self.due()
            if run.errors or run.still_due == 0:
                break
            if report.busy:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > patience_s:
                break
            await sleep(idle_s)
        return run

    async def _payments(self) -> list[Any]:
        return await self.payments.reconcile_pending(limit=self.limit)

    async def _payouts(self) -> list[Any]:
        return await self.payouts.reconcile_pending(limit=self.limit)

    async def _batches(self) -> int:
        assert self.batches is not None
        return await self.batches.settle_batches() + await self.batches.report_progress()

    async def _reversals(self) -> list[Any]:
        if self.reversals is None:
            return []
        return await self.reversals.reconcile_pending(limit=self.limit)

    async def due(self) -> int:
        """Rows a pass would work on now, whoever holds them: payments, payouts, reversals, outbox.

        Zero means a pass has nothing left to do; ``mpesa-bot reconcile`` runs until then,
        however many other processes reconcile the same database.
        """
        total = await self.payments.due() + await self.payouts.due() + await self.outbox.due()
        if self.reversals is not None:
            total += await self.reversals.due()
        return total

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
    """True when a payment, payout or reversal reached a final status."""
    return bool(getattr(record.status, "is_final", False))
