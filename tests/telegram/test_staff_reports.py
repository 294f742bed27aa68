"""Staff reports in the chat: /history with paging, /stats and /export."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from datetime import datetime

import pytest

from bot.telegram import staff_keyboards
from bot.telegram import staff_texts
from bot.telegram import texts
from bot.telegram.staff_reports import HistoryQuery
from bot.telegram.staff_reports import parse_history_args
from models import Payment
from models import PaymentStatus
from models import Payout
from models import PayoutStatus
from models import Staff
from models import StaffRole
from mpesa.security import NAIROBI
from tests.helpers.telegram import ADMIN_ID
from tests.helpers.telegram import CASHIER_ID
from tests.helpers.telegram import World
from tests.telegram.test_staff_payments import markup

OTHER_PHONE = "254722000111"


async def make_payments(count: int, *, msisdn: str = "254708374149", status=PaymentStatus.PAID):
    """Settled payments straight into the database, oldest first."""
    made = []
    first = await Payment.all().count()
    for n in range(first, first + count):
        made.append(
            await Payment.create(
                msisdn=msisdn,
                amount=100 + n,
                account_reference="HouseholdPlanet",
                status=status,
                receipt=f"UKK{n:07d}" if status is PaymentStatus.PAID else None,
                paid_amount=100 + n if status is PaymentStatus.PAID else None,
            )
        )
    return made


async def test_history_pages_with_older_and_newest(world: World) -> None:
    payments = await make_payments(12)
    newest_first = list(reversed(payments))

    first = await world.h.send(CASHIER_ID, "/history")

    header = "<b>Payments: all time</b>"
    assert world.h.texts(first) == [
        "\n".join([header, *(staff_texts.payment_line(p) for p in newest_first[:10])])
    ]
    older = f"hist:-:-:-:{newest_first[9].id}"
    assert markup(first) == {"inline_keyboard": [[{"text": "Older ›", "callback_data": older}]]}

    second = await world.h.press(CASHIER_ID, older, message_id=first[0].result["message_id"])

    assert [c.method for c in second] == ["answerCallbackQuery", "editMessageText"]
    assert second[1].params["text"] == "\n".join(
        [f"{header} (older)", *(staff_texts.payment_line(p) for p in newest_first[10:])]
    )
    assert markup(second) == {
        "inline_keyboard": [[{"text": "« Newest", "callback_data": "hist:-:-:-:0"}]]
    }

    back = await world.h.press(CASHIER_ID, "hist:-:-:-:0", message_id=first[0].result["message_id"])
    assert back[1].params["text"] == world.h.texts(first)[0]


async def test_history_filters_by_words_in_any_order(world: World) -> None:
    await make_payments(2)
    other = await make_payments(1, msisdn=OTHER_PHONE)
    await make_payments(1, msisdn=OTHER_PHONE, status=PaymentStatus.CANCELLED)

    calls = await world.h.send(CASHIER_ID, "/history paid 0722000111 today")

    assert world.h.texts(calls) == [
        "<b>Payments: today, 0722 000 111, paid</b>\n" + staff_texts.payment_line(other[0])
    ]
    assert markup(calls) is None


async def test_history_of_payouts(world: World) -> None:
    admin = await Staff.get_or_create(telegram_id=ADMIN_ID, defaults={"role": StaffRole.ADMIN})
    payout = await Payout.create(
        originator_conversation_id="oc-1",
        msisdn="254708374149",
        amount=700,
        remarks="Refund",
        initiated_by=admin[0],
        status=PayoutStatus.COMPLETED,
        receipt="UKL1234567",
    )

    calls = await world.h.send(ADMIN_ID, "/history payouts completed")

    assert world.h.texts(calls) == [
        "<b>Payouts: all time, completed</b>\n" + staff_texts.payout_line(payout)
    ]
    assert staff_texts.payout_line(payout).startswith(f"P{payout.id} · ")


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("/history 0733123456", "0733123456 is an Airtel number; M-Pesa needs Safaricom"),
        (
            "/history yesterday",
            "yesterday is not a period, phone or status; statuses are cancelled, created, "
            "failed, insufficient_funds, paid, pending, reversed, review, timed_out, unknown, "
            "wrong_pin.",
        ),
    ],
)
async def test_history_wrong_words(world: World, command: str, reason: str) -> None:
    calls = await world.h.send(CASHIER_ID, command)

    assert world.h.texts(calls) == [texts.refusal(reason, staff_texts.USAGE_HISTORY)]


async def test_history_when_nothing_matches(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/history week")

    assert world.h.texts(calls) == ["<b>Payments: week</b>\nNothing matches."]


def test_parse_history_args() -> None:
    assert parse_history_args(["WEEK", "+254708374149", "Timed-Out"], []) == HistoryQuery(
        period="week", status="timed_out", msisdn="254708374149"
    )
    assert parse_history_args(["sent", "awaiting_approval"], []) == HistoryQuery(
        payouts=True, status="awaiting_approval"
    )


def test_history_callback_data_fits_and_round_trips() -> None:
    longest = staff_keyboards.history_data(
        payouts=True,
        period="month",
        status="awaiting_confirmation",
        msisdn="254708374149",
        before_id=2_147_483_647,
    )
    assert len(longest.encode()) <= 64
    assert staff_keyboards.parse_history_data(longest) == (
        True,
        "month",
        "awaiting_confirmation",
        "254708374149",
        2_147_483_647,
    )


async def test_a_malformed_page_button_is_answered_not_crashed(world: World) -> None:
    calls = await world.h.press(CASHIER_ID, "hist:x", message_id=1)

    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["show_alert"] is True


# -- /stats and /export ---------------------------------------------------------------------------


async def test_stats_today(world: World) -> None:
    await make_payments(3)
    await make_payments(1, status=PaymentStatus.CANCELLED)
    await make_payments(1, status=PaymentStatus.PENDING)

    calls = await world.h.send(CASHIER_ID, "/stats")

    stats = await world.services.reports.stats("today")
    assert world.h.texts(calls) == [
        f"<b>Today</b> (since {texts.when(stats.start)})\n"
        "Received: KES 303 in 3 payments\n"
        "  by STK KES 303 (3), paybill KES 0 (0)\n"
        "Sent: KES 0 in 0 payouts\n"
        "STK success: 75% (3 paid of 4 finished)\n"
        "\n"
        "<b>Payments by status</b>\n"
        "cancelled 1 · paid 3 · pending 1\n"
        "<b>Payouts by status</b>\n"
        "none"
    ]


async def test_stats_wrong_period(world: World) -> None:
    calls = await world.h.send(CASHIER_ID, "/stats year")

    assert world.h.texts(calls) == [
        texts.refusal("year is not a period; use today, week or month.", staff_texts.USAGE_STATS)
    ]


async def test_export_sends_a_csv_document(world: World) -> None:
    await make_payments(2)

    calls = await world.h.send(CASHIER_ID, "/export week")

    assert [c.method for c in calls] == ["sendDocument"]
    day = datetime.now(UTC).astimezone(NAIROBI).strftime("%Y-%m-%d")
    document = calls[0].params["document"]
    assert document["filename"] == f"payments-week-{day}.csv"
    rows = list(csv.reader(io.StringIO(document["content"].decode())))
    assert rows[0][:6] == ["kind", "id", "time_nairobi", "status", "amount_kes", "phone_masked"]
    assert [(r[0], r[3], r[4]) for r in rows[1:]] == [
        ("stk", "paid", "100"),
        ("stk", "paid", "101"),
    ]
    assert {r[5] for r in rows[1:]} == {"2547****149"}
    assert calls[0].params["caption"].startswith("2 records (week: ")
    assert calls[0].params["caption"].endswith("Nairobi time; phone numbers masked)")
    assert calls[0].params["chat_id"] == CASHIER_ID


async def test_an_admin_export_says_it_holds_full_phone_numbers(world: World) -> None:
    await make_payments(1)

    calls = await world.h.send(ADMIN_ID, "/export week")

    day = datetime.now(UTC).astimezone(NAIROBI).strftime("%Y-%m-%d")
    document = calls[0].params["document"]
    assert document["filename"] == f"payments-week-{day}-full-phone-numbers.csv"
    rows = list(csv.reader(io.StringIO(document["content"].decode())))
    assert (rows[0][5], rows[1][5]) == ("phone_full_number", "254708374149")
    assert calls[0].params["caption"].endswith("Nairobi time; full phone numbers)")


# -- long lists ----------------------------------------------------------------------------------


def test_fit_keeps_a_message_under_the_limit() -> None:
    lines = [f"line {n} " + "x" * 80 for n in range(200)]

    text = staff_texts.fit("<b>Header</b>", lines, footer="footer")

    assert len(text) <= 4096
    shown = text.count("\nline ")
    assert text.endswith(f"…and {200 - shown} more\nfooter")


async def test_a_long_staff_list_stays_in_one_message(world: World) -> None:
    for n in range(300):
        await Staff.create(telegram_id=50_000 + n, role=StaffRole.CASHIER, name="N" * 100)

    calls = await world.h.send(ADMIN_ID, "/staff")

    assert [c.method for c in calls] == ["sendMessage"]  # the fake Bot API refuses > 4,096
    assert "more" in calls[0].params["text"]
