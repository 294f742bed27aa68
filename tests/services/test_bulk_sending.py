"""Sending confirmed batches against the simulator: paced, each row once, whatever happens."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.services.errors import LimitExceeded
from bot.services.errors import NotAllowed
from models import BatchRowStatus
from models import BatchStatus
from models import DarajaQuery
from models import Notification
from models import Payout
from models import PayoutBatch
from models import PayoutBatchRow
from models import PayoutStatus
from models import PostState
from models import QueryKind
from tests.helpers.bulk import ADMIN
from tests.helpers.bulk import SECOND_ADMIN
from tests.helpers.bulk import FaultyB2C
from tests.helpers.bulk import confirmed_batch
from tests.helpers.bulk import rows_csv
from tests.helpers.bulk import settle_all
from tests.helpers.bulk import sim_config
from tests.helpers.bulk import simulator_payouts
from tests.helpers.bulk import world


@pytest.fixture
def fast(settings):
    # fast enough that 500 rows take seconds, not minutes; the limit fits the batch
    return settings.model_copy(
        update={
            "bulk_payouts_per_s": 400.0,
            "b2c_query_after_s": 0.0,
            "staff_daily_payout_limit": 1_000_000,
        }
    )


async def send_until_done(services, *, passes: int = 50) -> None:
    for _ in range(passes):
        report = await services.bulk_sender.run_once(budget_s=5.0)
        queued = await PayoutBatchRow.filter(status=BatchRowStatus.QUEUED).count()
        if queued == 0 and report.sent == 0:
            return
    raise AssertionError("rows still queued")


# the engine-specific races are the two tests below; this one is about the payout path
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_500_rows_with_time_outs_and_a_spike_arrest_are_each_paid_once(
    db, aiohttp_server, fast, simulators
) -> None:
    sim = await simulators(sim_config())
    timeouts = {25 * i for i in range(1, 11)}  # 10 answers lost after the simulator paid
    transport = FaultyB2C(sim.url, time_out_at=timeouts, spike_at=300, spike_n=3)
    async with world(aiohttp_server, fast, sim, transport) as w:
        batch = await confirmed_batch(w.services, rows_csv(500))
        assert (batch.status, batch.valid_count) == (BatchStatus.SENDING, 500)

        await send_until_done(w.services)
        await settle_all(w)
        await w.services.bulk_sender.settle_batches()

        payouts = await Payout.all()
        assert len(payouts) == 500
        assert {p.status for p in payouts} == {PayoutStatus.COMPLETED}
        made = await simulator_payouts(w)
        assert len(made) == 500
        assert max(made.values()) == 1  # 0 paid twice
        # the 10 lost answers were asked about, never resent
        lost = set(transport.posts[n - 1] for n in timeouts)
        assert {p.originator_conversation_id for p in payouts if p.query_count} >= lost
        asked = await DarajaQuery.filter(kind=QueryKind.TRANSACTION_STATUS).count()
        assert asked >= 10
        posts = {key: transport.posts.count(key) for key in lost}
        assert set(posts.values()) == {1}
        # throttled POSTs (refused at the gateway) went again; nothing else did
        again = [key for key in set(transport.posts) if transport.posts.count(key) > 1]
        assert 1 <= len(again) <= 3
        assert all(made[key] == 1 for key in again)
        done = await PayoutBatch.get(id=batch.id)
        assert done.status == BatchStatus.COMPLETED
        assert done.settled_at is not None
        assert done.pace_per_s is not None  # the spike arrest slowed it down
        assert await Notification.filter(event_key__startswith=f"batch:{batch.id}:done").exists()


async def test_a_restart_in_the_middle_of_a_batch_sends_no_row_twice(
    db, aiohttp_server, fast, simulators
) -> None:
    sim = await simulators(sim_config())
    transport = FaultyB2C(sim.url, crash_at=5)
    async with world(aiohttp_server, fast, sim, transport, instances=2) as w:
        first, second = w.instances
        batch = await confirmed_batch(first, rows_csv(60, amount=50))

        # the first process sends a few rows and dies in the middle of the fifth POST
        for _ in range(50):  # however loaded the machine, until that POST was made
            await first.bulk_sender.run_once(budget_s=0.2)
            if len(transport.posts) >= 5:
                break
        crashed = await Payout.get(originator_conversation_id=transport.posts[4])
        assert (crashed.status, crashed.post_state) == (PayoutStatus.SUBMITTING, PostState.SENDING)
        transport.crash_at = None
        # ... and stays down until its lease lapsed
        await Payout.filter(id=crashed.id).update(claimed_until=crashed.sent_at)

        # the new process carries on exactly where the batch was
        await send_until_done(second)
        await settle_all(SimpleNamespace(services=second, sim=w.sim))
        await second.bulk_sender.settle_batches()

        made = await simulator_payouts(w)
        assert sorted(made.values()) == [1] * 60  # every row paid, none twice
        assert len(transport.posts) == len(set(transport.posts)) == 60  # no POST sent twice
        crashed = await Payout.get(id=crashed.id)
        # never resent: its outcome was asked by Transaction Status, which found it paid
        assert (crashed.status, crashed.post_count) == (PayoutStatus.COMPLETED, 1)
        assert crashed.query_count >= 1
        assert {p.status for p in await Payout.all()} == {PayoutStatus.COMPLETED}
        assert (await PayoutBatch.get(id=batch.id)).status == BatchStatus.COMPLETED


async def test_two_instances_running_one_batch_send_each_row_once(
    db, aiohttp_server, fast, simulators
) -> None:
    sim = await simulators(sim_config())
    transport = FaultyB2C(sim.url)
    async with world(aiohttp_server, fast, sim, transport, instances=2) as w:
        first, second = w.instances
        batch = await confirmed_batch(first, rows_csv(120, amount=50))

        await asyncio.gather(send_until_done(first), send_until_done(second))
        await settle_all(w)

        assert len(transport.posts) == 120
        assert len(set(transport.posts)) == 120
        made = await simulator_payouts(w)
        assert sorted(made.values()) == [1] * 120
        rows = await PayoutBatchRow.filter(batch_id=batch.id)
        assert {r.status for r in rows} == {BatchRowStatus.SENT}


async def test_pause_resume_and_cancel(db, aiohttp_server, fast, simulators) -> None:
    sim = await simulators(sim_config())
    transport = FaultyB2C(sim.url)
    async with world(aiohttp_server, fast, sim, transport) as w:
        services = w.services
        batch = await confirmed_batch(services, rows_csv(30, amount=50))
        await services.batches.pause(batch.id, by_telegram_id=ADMIN)
        report = await services.bulk_sender.run_once(budget_s=0.5)
        assert report.sent == 0

        await services.batches.resume(batch.id, by_telegram_id=ADMIN)
        await services.bulk_sender.run_once(budget_s=0.02)
        sent = len(transport.posts)
        assert 0 < sent < 30
        cancelled = await services.batches.cancel(batch.id, by_telegram_id=ADMIN)
        await send_until_done(services)
        await settle_all(w)
        await services.bulk_sender.settle_batches()

        assert cancelled.status == BatchStatus.CANCELLED
        assert len(transport.posts) == sent  # nothing left after the cancel
        rows = await PayoutBatchRow.filter(batch_id=batch.id).prefetch_related("payout")
        stopped = [r for r in rows if r.status == BatchRowStatus.CANCELLED]
        assert len(stopped) == 30 - sent
        assert {r.payout.status for r in stopped} == {PayoutStatus.CANCELLED}
        # the rows already sent finished
        assert {r.payout.status for r in rows if r.status == BatchRowStatus.SENT} == {
            PayoutStatus.COMPLETED
        }
        assert (await PayoutBatch.get(id=batch.id)).settled_at is not None


async def test_confirm_reserves_the_total_and_approval_is_never_the_requester(
    db, aiohttp_server, settings, simulators
) -> None:
    sim = await simulators(sim_config())
    transport = FaultyB2C(sim.url)
    tight = settings.model_copy(update={"staff_daily_payout_limit": 20_000})
    async with world(aiohttp_server, tight, sim, transport) as w:
        services = w.services
        big = await services.bulk.upload(
            rows_csv(25, amount=1000), file_name="a.csv", by_telegram_id=ADMIN
        )
        with pytest.raises(LimitExceeded) as caught:
            await services.batches.confirm(big.batch.id, by_telegram_id=ADMIN)
        assert "KES 20,000" in str(caught.value)
        assert await Payout.all().count() == 0

        fits = await services.bulk.upload(
            rows_csv(15, amount=1000, start=100), file_name="b.csv", by_telegram_id=ADMIN
        )
        waiting = await services.batches.confirm(fits.batch.id, by_telegram_id=ADMIN)
        assert waiting.status == BatchStatus.AWAITING_APPROVAL
        # reserved at confirmation: 15,000 of 20,000 are taken today
        small = await services.payouts.send_money(
            "0708374149", "6000", initiator_telegram_id=ADMIN, reason="Refund"
        )
        with pytest.raises(LimitExceeded):
            await services.payouts.confirm_payout(small.id, by_telegram_id=ADMIN)
        with pytest.raises(NotAllowed):
            await services.batches.approve(waiting.id, by_telegram_id=ADMIN)
        row_payout = await Payout.filter(status=PayoutStatus.AWAITING_APPROVAL).first()
        with pytest.raises(NotAllowed):
            await services.payouts.approve_payout(row_payout.id, by_telegram_id=SECOND_ADMIN)
        assert transport.posts == []

        rejected = await services.batches.reject(waiting.id, by_telegram_id=SECOND_ADMIN)
        assert rejected.status == BatchStatus.REJECTED
        # the rejection freed the reservation
        assert await services.payouts.reserved_today(await services.staff.require(ADMIN)) == 0
