"""ReportService: totals over Nairobi periods, filtered history, streamed CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from bot.services.errors import InvalidInput
from bot.services.reports import ReportService
from bot.services.reports import export_header
from bot.services.reports import payer_name
from bot.services.reports import period_bounds
from models import C2BTransaction
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Staff
from models import StaffRole
from mpesa.security import NAIROBI

# Friday 20 Nov 2026, 14:00 in Nairobi
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=NAIROBI).astimezone(UTC)


async def payment(status: PaymentStatus, amount: int, *, at: datetime = NOW, **extra) -> Payment:
    row = await Payment.create(
        msisdn=extra.pop("msisdn", "254708374149"),
        amount=amount,
        account_reference="HouseholdPlanet",
        status=status,
        **extra,
    )
    await Payment.filter(id=row.id).update(created_at=at - timedelta(minutes=1))
    return row


async def payout(status: PayoutStatus, amount: int, *, at: datetime = NOW) -> Payout:
    staff, _ = await Staff.get_or_create(telegram_id=1001, defaults={"role": StaffRole.ADMIN})
    row = await Payout.create(
        originator_conversation_id=f"oc-{amount}-{status}-{at.timestamp()}",
        msisdn="254708374149",
        amount=amount,
        remarks="Salary",
        status=status,
        initiated_by=staff,
    )
    await Payout.filter(id=row.id).update(created_at=at - timedelta(minutes=1))
    return row


async def c2b(trans_id: str, amount: int, *, at: datetime = NOW) -> C2BTransaction:
    row = await C2BTransaction.create(
        trans_id=trans_id, amount=amount, shortcode="600984", msisdn="2547 ***** 149"
    )
    await C2BTransaction.filter(id=row.id).update(created_at=at - timedelta(minutes=1))
    return row


@pytest.mark.parametrize(
    ("period", "start_local"),
    [
        ("today", datetime(2026, 11, 20, tzinfo=NAIROBI)),
        ("week", datetime(2026, 11, 16, tzinfo=NAIROBI)),  # Monday
        ("month", datetime(2026, 11, 1, tzinfo=NAIROBI)),
    ],
)
def test_periods_start_at_nairobi_midnight(period, start_local) -> None:
    assert period_bounds(period, NOW) == (start_local.astimezone(UTC), NOW)


def test_nairobi_day_starts_before_utc_midnight() -> None:
    # 22:30 UTC on the 19th is already 01:30 on the 20th in Nairobi
    start, _ = period_bounds("today", datetime(2026, 11, 19, 22, 30, tzinfo=UTC))

    assert start == datetime(2026, 11, 19, 21, 0, tzinfo=UTC)


def test_unknown_period_is_refused() -> None:
    with pytest.raises(InvalidInput, match="today, week or month"):
        period_bounds("year", NOW)


async def test_stats_totals_and_breakdown(db) -> None:
    await payment(PaymentStatus.PAID, 150, receipt="UKK4Q7M2XB")
    await payment(PaymentStatus.PAID, 1_000, receipt="UKK4Q7M2XC")
    await payment(PaymentStatus.CANCELLED, 500)
    await payment(PaymentStatus.PENDING, 700)  # not settled: not in the success rate
    await payment(PaymentStatus.PAID, 9_999, at=NOW - timedelta(days=1), receipt="OLD")
    await c2b("UKK2M8P4RS", 2_000)
    await c2b("UKK4Q7M2XB", 150)  # the C2B echo of an STK payment: counted once
    await payout(PayoutStatus.COMPLETED, 300)
    await payout(PayoutStatus.FAILED, 400)

    stats = await ReportService().stats("today", now=NOW)

    assert (stats.stk_received_total, stats.stk_received_count) == (1_150, 2)
    assert (stats.c2b_received_total, stats.c2b_received_count) == (2_000, 1)
    assert (stats.received_total, stats.received_count) == (3_150, 3)
    assert (stats.sent_total, stats.sent_count) == (300, 1)
    assert (stats.stk_paid, stats.stk_settled, stats.success_percent) == (2, 3, 67)
    assert stats.payments_by_status == {"paid": 2, "cancelled": 1, "pending": 1}
    assert stats.payouts_by_status == {"completed": 1, "failed": 1}
    assert isinstance(stats.received_total, int)


async def test_stats_week_includes_earlier_days(db) -> None:
    await payment(PaymentStatus.PAID, 150, receipt="A")
    await payment(PaymentStatus.PAID, 200, at=NOW - timedelta(days=3), receipt="B")
    await payment(PaymentStatus.PAID, 400, at=NOW - timedelta(days=5), receipt="C")  # last week

    stats = await ReportService().stats("week", now=NOW)

    assert stats.stk_received_total == 350


async def test_stats_of_an_empty_period(db) -> None:
    stats = await ReportService().stats("month", now=NOW)

    assert (stats.received_total, stats.sent_total, stats.success_percent) == (0, 0, None)
    assert stats.payments_by_status == {}


async def test_history_filters_and_pages_by_id(db) -> None:
    rows = [await payment(PaymentStatus.PAID, 100 + n, receipt=f"R{n}") for n in range(5)]
    await payment(PaymentStatus.FAILED, 50)
    await payment(PaymentStatus.PAID, 60, msisdn="254711000001", receipt="OTHER")
    reports = ReportService(clock=lambda: NOW)

    first = await reports.history(msisdn="0708 374 149", status="paid", limit=3)
    more = await reports.history(
        msisdn="0708374149", status="PAID", limit=3, before_id=first[-1].id
    )

    assert [p.id for p in first] == [rows[4].id, rows[3].id, rows[2].id]
    assert [p.id for p in more] == [rows[1].id, rows[0].id]


async def test_history_by_period(db) -> None:
    today = await payment(PaymentStatus.PAID, 100, receipt="A")
    await payment(PaymentStatus.PAID, 100, at=NOW - timedelta(days=2), receipt="B")

    rows = await ReportService(clock=lambda: NOW).history(period="today")

    assert [p.id for p in rows] == [today.id]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"status": "bogus"}, "status"), ({"msisdn": "0733 123 456"}, "phone")],
)
async def test_history_refuses_bad_filters(db, kwargs, field) -> None:
    with pytest.raises(InvalidInput) as caught:
        await ReportService().history(**kwargs)
    assert caught.value.field == field


async def test_payout_history(db) -> None:
    done = await payout(PayoutStatus.COMPLETED, 300)
    await payout(PayoutStatus.FAILED, 400)

    rows = await ReportService().payout_history(status="completed")

    assert [p.id for p in rows] == [done.id]


async def test_export_csv_streams_every_kind_in_chunks(db, monkeypatch) -> None:
    monkeypatch.setattr("bot.services.reports.EXPORT_CHUNK", 2)
    for n in range(3):
        await payment(
            PaymentStatus.PAID, 100 + n, receipt=f"R{n}", description="=cmd|' /C calc'!A0"
        )
    await payment(PaymentStatus.PAID, 999, at=NOW - timedelta(days=40), receipt="OLD")
    await payout(PayoutStatus.COMPLETED, 300)
    await c2b("UKK2M8P4RS", 2_000)
    out = io.StringIO()
    progress: list[int] = []

    count = await ReportService().export_csv(
        NOW - timedelta(days=1), NOW, out, progress=progress.append
    )

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert count == 5
    assert rows[0] == export_header(full_numbers=True)
    assert [(r[0], r[4]) for r in rows[1:]] == [
        ("stk", "100"),
        ("stk", "101"),
        ("stk", "102"),
        ("payout", "300"),
        ("c2b", "2000"),
    ]
    assert progress == [2, 3, 4, 5]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["phone_full_number"] == "254708374149"
    assert first["time_nairobi"] == "2026-11-20T13:59:00+03:00"
    assert first["description"].startswith("'=")  # a spreadsheet will not run it


async def export_rows(viewer: Staff | None) -> list[dict[str, str]]:
    out = io.StringIO()
    await ReportService().export_csv(NOW - timedelta(days=1), NOW, out, viewer=viewer)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


async def test_a_paid_payment_keeps_its_sale_description_and_m_pesa_result_apart(db) -> None:
    await payment(
        PaymentStatus.PAID,
        1500,
        receipt="UKK4Q7M2XB",
        description="Blender",
        result_desc="The service request is processed successfully.",
    )

    [row] = await export_rows(None)

    assert (row["description"], row["mpesa_result"]) == (
        "Blender",
        "The service request is processed successfully.",
    )


async def test_a_cashier_export_masks_phones_and_an_admin_export_shows_them(db) -> None:
    await payment(PaymentStatus.PAID, 1500, receipt="UKK4Q7M2XB")
    await payout(PayoutStatus.COMPLETED, 300)
    await c2b("UKK2M8P4RS", 2_000)
    cashier = await Staff.create(telegram_id=2002, role=StaffRole.CASHIER)
    admin = await Staff.get(telegram_id=1001)

    as_cashier = await export_rows(cashier)
    as_admin = await export_rows(admin)

    assert [r["phone_masked"] for r in as_cashier] == ["2547****149"] * 3
    assert [r["phone_full_number"] for r in as_admin] == [
        "254708374149",
        "254708374149",
        "2547 ***** 149",  # what Safaricom sent for a paybill payment
    ]
    assert "254708374149" not in str(as_cashier)


@pytest.mark.parametrize(
    "dangerous", ["=1+1", "+254", "-2", "@SUM(A1)", "\t=1+1", "\r=1+1", "\tplain"]
)
async def test_every_formula_lead_in_is_neutralised(db, dangerous) -> None:
    await payment(PaymentStatus.FAILED, 10, description=dangerous, result_desc=dangerous)

    [row] = await export_rows(None)

    assert (row["description"], row["mpesa_result"]) == (f"'{dangerous}", f"'{dangerous}")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ('=HYPERLINK("http://x")', 'HYPERLINK("http://x")'),
        ("\t@JOHN DOE", "JOHN DOE"),
        (" -+Mary-Jane Wanjiku", "Mary-Jane Wanjiku"),
        ("JOHN DOE", "JOHN DOE"),
    ],
)
async def test_paybill_payer_names_lose_their_formula_lead_in(db, raw, shown) -> None:
    row = await c2b("UKK2M8P4RS", 2_000)
    await C2BTransaction.filter(id=row.id).update(payer_name=raw)

    [exported] = await export_rows(None)

    assert (payer_name(raw), exported["description"]) == (shown, shown)
