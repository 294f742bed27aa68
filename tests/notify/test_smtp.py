"""E-mail through a real SMTP server on loopback (aiosmtpd, started by each test)."""

from __future__ import annotations

import logging
import re
import zlib
from datetime import UTC
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
from pydantic import SecretStr

from bot.checks import _email as email_check
from bot.notify.emails import EmailComposer
from bot.notify.emails import mask_email
from bot.notify.notifier import Notifier
from bot.notify.outbox import CLAIM_S
from bot.notify.outbox import OutboxWorker
from bot.notify.smtp import DEADLINE_S
from bot.notify.smtp import LogOnlyEmail
from bot.notify.smtp import SmtpEmail
from bot.notify.smtp import build_email_channel
from bot.services.summaries import DailySummaries
from models import Customer
from models import Notification
from models import NotificationChannel
from models import NotificationStatus
from models import Order
from models import OrderStatus
from models import Payment
from models import PaymentStatus
from tests.helpers.ports import free_port
from tests.helpers.smtp_server import SmtpServer
from tests.helpers.smtp_server import start_smtp_server

SENDER = "Household Planet Kenya <receipts@householdplanet.co.ke>"
CUSTOMER = "wanjiku@example.co.ke"
ADMINS = ["owner@householdplanet.co.ke", "accounts@householdplanet.co.ke"]
USERNAME, PASSWORD = "receipts", "smtp-secret-do-not-log"
PAID_AT = datetime(2026, 11, 23, 12, 15, tzinfo=UTC)  # 15:15 in Nairobi


@pytest.fixture
async def smtp():
    server = await start_smtp_server(username=USERNAME, password=PASSWORD)
    yield server
    await server.close()


def smtp_settings(settings, port: int, **overrides):
    values = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,  # the loopback test server speaks plain SMTP
        "smtp_tls": False,
        "smtp_from": SENDER,
        "smtp_username": USERNAME,
        "smtp_password": SecretStr(PASSWORD),
        "smtp_timeout_s": 5.0,
        "admin_emails": ADMINS,
        "daily_summary_time": "20:00",
        **overrides,
    }
    return settings.model_copy(update=values)


def notifier_for(settings, clock) -> Notifier:
    return Notifier(
        business_name=settings.business_name,
        sms_enabled=False,
        clock=clock,
        default_language=settings.default_language,
        admin_emails=settings.admin_emails,
        email_enabled=True,
    )


def outbox(channel, clock) -> OutboxWorker:
    return OutboxWorker({NotificationChannel.EMAIL: channel}, clock=clock, jitter=lambda: 0.0)


async def paid_order(*, language: str | None = None, email: str = CUSTOMER) -> Payment:
    customer = await Customer.create(msisdn="254708374149", language=language)
    order = await Order.create(
        code="HP7K2Q9XAB",
        amount=1_500,
        description="Blender 2L",
        status=OrderStatus.PAID,
        paid_receipt="UKN3SVJ3YV",
        paid_at=PAID_AT,
        email=email,
        customer=customer,
    )
    return await Payment.create(
        order=order,
        customer=customer,
        msisdn="254708374149",
        amount=1_500,
        paid_amount=1_500,
        account_reference=order.code,
        description="Blender 2L",
        status=PaymentStatus.PAID,
        receipt="UKN3SVJ3YV",
        paid_at=PAID_AT,
    )


async def receipt_row(settings, clock, payment: Payment) -> Notification:
    await notifier_for(settings, clock).payment_changed(payment)
    return await Notification.get(channel=NotificationChannel.EMAIL)


def pdf_text(document: bytes) -> str:
    """The text drawn in a PDF's (Flate-compressed) content streams, as fpdf writes them."""
    found = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.DOTALL):
        try:
            found.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            found.append(stream.decode("latin-1"))
    return "\n".join(found)


# -- what is sent ------------------------------------------------------------------------------


async def test_a_receipt_goes_to_the_customer_with_headers_and_the_pdf(db, settings, smtp, clock):
    settings = smtp_settings(settings, smtp.port)
    payment = await paid_order()
    row = await receipt_row(settings, clock, payment)
    channel = SmtpEmail(settings, EmailComposer(settings, clock=clock))

    assert await outbox(channel, clock).run_once() == 1

    assert smtp.logins == [USERNAME]
    [received] = smtp.received
    assert (received.mail_from, received.rcpt_tos) == ("receipts@householdplanet.co.ke", [CUSTOMER])
    message = received.message
    assert message["From"] == SENDER
    assert message["To"] == CUSTOMER
    assert message["Subject"] == "Your receipt from Household Planet Kenya: order HP7K2Q9XAB"
    assert parsedate_to_datetime(message["Date"]) == clock.now.replace(microsecond=0)
    assert message["Message-ID"].startswith(f"<n{row.id}.")
    assert message["Message-ID"].endswith("@householdplanet.co.ke>")
    body = message.get_body(("plain",)).get_content()
    assert "Thank you for your payment." in body
    assert "KES 1,500" in body
    assert "UKN3SVJ3YV" in body
    assert "0708 *** 149" in body
    assert "23 Nov 2026 15:15" in body
    [pdf] = list(message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "receipt-HP7K2Q9XAB.pdf"
    content = pdf.get_content()
    assert content.startswith(b"%PDF-")
    assert "UKN3SVJ3YV" in pdf_text(content)
    assert (await Notification.get(id=row.id)).status == NotificationStatus.SENT


async def test_a_kiswahili_customer_reads_the_receipt_in_kiswahili(db, settings, smtp, clock):
    settings = smtp_settings(settings, smtp.port)
    payment = await paid_order(language="sw")
    row = await receipt_row(settings, clock, payment)

    assert row.payload["language"] == "sw"
    await outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock).run_once()

    message = smtp.received[0].message
    assert message["Subject"] == "Risiti yako kutoka Household Planet Kenya: oda HP7K2Q9XAB"
    assert message["Content-Language"] == "sw"
    body = message.get_body(("plain",)).get_content()
    assert "Asante kwa malipo yako." in body
    for english in ("Thank you", "receipt", "Amount", "Paid from", "because"):
        assert english not in body
    assert "KES 1,500" in body
    [pdf] = list(message.iter_attachments())
    assert "Risiti ya malipo ya M-Pesa" in pdf_text(pdf.get_content())


async def test_without_a_remembered_language_the_receipt_is_in_default_language(
    db, settings, smtp, clock
):
    settings = smtp_settings(settings, smtp.port, default_language="sw")
    row = await receipt_row(settings, clock, await paid_order(language=None))

    assert row.payload["language"] == "sw"


async def test_no_address_no_receipt_email(db, settings, smtp, clock):
    settings = smtp_settings(settings, smtp.port)
    payment = await paid_order(email="")
    await Order.filter(id=payment.order_id).update(email=None)
    await notifier_for(settings, clock).payment_changed(await Payment.get(id=payment.id))

    assert await Notification.filter(channel=NotificationChannel.EMAIL).count() == 0


async def test_an_admin_alert_goes_to_every_admin_address(db, settings, smtp, clock):
    settings = smtp_settings(settings, smtp.port)
    notifier = notifier_for(settings, clock)
    await notifier.admin_alert("drift:1", "Balance drift: KES 200 unexplained")
    await notifier.admin_alert("drift:1", "Balance drift: KES 200 unexplained")  # reported twice

    await outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock).run_once()

    assert sorted(r.rcpt_tos[0] for r in smtp.received) == sorted(ADMINS)
    message = smtp.received[0].message
    assert (
        message["Subject"] == "[Household Planet Kenya] Alert: Balance drift: KES 200 unexplained"
    )
    assert "Balance drift: KES 200 unexplained" in message.get_content()


async def summaries_for(settings, smtp, clock):
    """Summaries to ADMINS over SMTP, and a KES 1,500 payment paid at PAID_AT to sum up."""
    payment = await paid_order()
    await Payment.filter(id=payment.id).update(created_at=PAID_AT)
    settings = smtp_settings(settings, smtp.port)
    return settings, lambda: DailySummaries(
        notifier=notifier_for(settings, clock), settings=settings, clock=clock
    )


async def the_summary_of_the_23rd(settings, smtp, clock) -> str:
    """Deliver the outbox: one summary of Mon 23 Nov to each admin, with the KES 1,500 in it."""
    await outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock).run_once()
    assert len(smtp.received) == 2
    message = smtp.received[0].message
    assert message["Subject"] == "[Household Planet Kenya] Daily summary Mon 23 Nov 2026"
    text = message.get_content()
    assert "Received:  KES 1,500 in 1 payment(s)" in text
    return text


async def test_the_daily_summary_is_queued_once_a_nairobi_day_however_often_asked(
    db, settings, smtp, clock
):
    settings, summaries = await summaries_for(settings, smtp, clock)
    # 19:59 in Nairobi: only yesterday's; 20:00: today's too; two instances, and one restarted,
    # ask again
    clock.now = datetime(2026, 11, 23, 16, 59, tzinfo=UTC)
    first = summaries()
    assert await first.run_once() == ["2026-11-22"]
    clock.advance(60)
    second = summaries()
    assert await first.run_once() == ["2026-11-22", "2026-11-23"]
    assert await second.run_once() == ["2026-11-22", "2026-11-23"]
    clock.advance(3 * 3600)
    restarted = summaries()
    assert await restarted.run_once() == ["2026-11-22", "2026-11-23"]

    rows = await Notification.filter(
        channel=NotificationChannel.EMAIL, event_key__startswith="summary:2026-11-23:"
    ).order_by("recipient")
    assert [(r.recipient, r.payload["day"]) for r in rows] == [
        (ADMINS[1], "2026-11-23"),
        (ADMINS[0], "2026-11-23"),
    ]
    assert await Notification.filter(channel=NotificationChannel.EMAIL).count() == 4
    await Notification.filter(event_key__startswith="summary:2026-11-22:").delete()
    text = await the_summary_of_the_23rd(settings, smtp, clock)
    assert "00:00 to 23:00 Nairobi time" in text  # the day so far, when it is delivered

    # the next day at 20:00 is a new summary
    clock.now = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert await first.run_once() == ["2026-11-23", "2026-11-24"]
    assert await Notification.filter(channel=NotificationChannel.EMAIL).count() == 4


async def test_a_summary_whose_time_passed_while_down_is_sent_when_back_for_the_whole_day(
    db, settings, smtp, clock
):
    settings, summaries = await summaries_for(settings, smtp, clock)
    # down from 19:00 on the 23rd (before its 20:00 summary) until 08:00 on the 24th
    clock.now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    before = summaries()
    assert "2026-11-23" not in await before.run_once()
    await Notification.filter(channel=NotificationChannel.EMAIL).delete()  # the 22nd's: not ours
    clock.now = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    back = summaries()
    assert await back.run_once() == ["2026-11-23"]
    assert await back.run_once() == ["2026-11-23"]  # asked again: nothing new

    text = await the_summary_of_the_23rd(settings, smtp, clock)
    assert "00:00 to 23:59 Nairobi time" in text  # late: the whole day


async def test_no_summary_when_off_or_nobody_to_send_to(settings, clock):
    for overrides in ({"daily_summary_time": None}, {"admin_emails": []}):
        off = smtp_settings(settings, 25, **overrides)
        summaries = DailySummaries(notifier=notifier_for(off, clock), settings=off, clock=clock)
        assert summaries.enabled is False
        assert summaries.due_days(datetime(2026, 11, 23, 20, 0, tzinfo=UTC)) == []


# -- exactly once --------------------------------------------------------------------------------


async def test_a_refused_connection_is_retried_and_delivered_once(db, settings, clock):
    port = free_port()  # nobody listens yet: the connection is refused
    settings = smtp_settings(settings, port)
    row = await receipt_row(settings, clock, await paid_order())
    worker = outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock)

    assert await worker.run_once() == 0
    failed = await Notification.get(id=row.id)
    assert failed.status == NotificationStatus.PENDING
    assert "nothing was sent" in failed.last_error

    server = await start_smtp_server(port=port, username=USERNAME, password=PASSWORD)
    try:
        assert await worker.run_once() == 0  # not due again yet
        clock.advance(worker.backoff_s(1) + 1)
        assert await worker.run_once() == 1
        clock.advance(3600)
        assert await worker.run_once() == 0
        assert len(server.received) == 1
    finally:
        await server.close()
    assert (await Notification.get(id=row.id)).attempts == 2


async def test_a_connection_dropped_before_the_greeting_is_retried_once(
    db, settings, smtp: SmtpServer, clock
):
    settings = smtp_settings(settings, smtp.port)
    row = await receipt_row(settings, clock, await paid_order())
    worker = outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock)
    smtp.drop_before_greeting = 1

    assert await worker.run_once() == 0
    assert "nothing was sent" in (await Notification.get(id=row.id)).last_error
    clock.advance(worker.backoff_s(1) + 1)
    assert await worker.run_once() == 1

    assert smtp.connections == 2
    assert len(smtp.received) == 1


async def test_a_connection_dropped_after_the_message_is_never_resent(
    db, settings, smtp: SmtpServer, clock
):
    settings = smtp_settings(settings, smtp.port)
    row = await receipt_row(settings, clock, await paid_order())
    worker = outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock)
    smtp.drop_after_data = 1  # the server keeps it, but the answer never comes

    assert await worker.run_once() == 0
    given_up = await Notification.get(id=row.id)
    assert given_up.status == NotificationStatus.FAILED
    assert "may have been delivered, so it is not resent" in given_up.last_error
    clock.advance(CLAIM_S * 10)
    assert await worker.run_once() == 0

    assert len(smtp.received) == 1
    assert smtp.connections == 1


@pytest.mark.parametrize(
    ("answer", "status", "sent_later"),
    [
        ("451 4.3.0 Try again later", NotificationStatus.PENDING, 1),
        ("554 5.7.1 Message refused", NotificationStatus.FAILED, 0),
    ],
)
async def test_a_message_the_server_refuses_is_retried_only_if_it_says_later(
    db, settings, smtp: SmtpServer, clock, answer, status, sent_later
):
    settings = smtp_settings(settings, smtp.port)
    row = await receipt_row(settings, clock, await paid_order())
    worker = outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock)
    smtp.refuse_data = [answer]

    assert await worker.run_once() == 0
    refused = await Notification.get(id=row.id)
    assert (refused.status, answer[:3] in refused.last_error) == (status, True)
    clock.advance(worker.backoff_s(1) + 1)
    await worker.run_once()

    assert (smtp.refused, len(smtp.received)) == (1, sent_later)


async def test_the_deadline_is_inside_the_outbox_claim():
    assert DEADLINE_S + 5 < CLAIM_S


# -- nothing leaves without SMTP_HOST ------------------------------------------------------------


async def test_without_smtp_host_the_email_is_logged_masked_and_nothing_leaves(
    db, settings, smtp: SmtpServer, clock, caplog
):
    settings = smtp_settings(settings, smtp.port, smtp_host=None)
    channel = build_email_channel(settings, EmailComposer(settings, clock=clock))
    assert isinstance(channel, LogOnlyEmail)
    row = await receipt_row(settings, clock, await paid_order())

    with caplog.at_level(logging.INFO):
        assert await outbox(channel, clock).run_once() == 1

    assert smtp.connections == 0
    assert (await Notification.get(id=row.id)).status == NotificationStatus.SENT
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"email.not_sent to={mask_email(CUSTOMER)} event=receipt attachments=1" in logged
    assert CUSTOMER not in logged


# -- mpesa-bot check ---------------------------------------------------------------------------


async def test_check_logs_in_at_the_smtp_server(settings, smtp: SmtpServer):
    result = await email_check(smtp_settings(settings, smtp.port))

    assert result.ok, result.detail
    assert f"127.0.0.1:{smtp.port} answers (no TLS, logged in as receipts)" in result.detail
    assert smtp.logins == [USERNAME]
    assert smtp.received == []


async def test_check_reports_a_wrong_password_without_showing_it(settings, smtp: SmtpServer):
    wrong = "wrong-password-1234"
    result = await email_check(smtp_settings(settings, smtp.port, smtp_password=SecretStr(wrong)))

    assert not result.ok
    assert "535" in result.detail
    assert wrong not in result.detail


async def test_check_without_smtp_host_says_emails_are_logged(settings):
    result = await email_check(smtp_settings(settings, 25, smtp_host=None))

    assert (result.ok, result.detail) == (True, "SMTP_HOST is not set: e-mails are only logged")


async def test_the_smtp_password_is_never_logged(db, settings, smtp: SmtpServer, clock, caplog):
    settings = smtp_settings(settings, smtp.port)
    await receipt_row(settings, clock, await paid_order())
    with caplog.at_level(logging.DEBUG):
        channel = build_email_channel(settings, EmailComposer(settings, clock=clock))
        await outbox(channel, clock).run_once()
        await email_check(settings)

    assert len(smtp.received) == 1
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


async def test_the_kiswahili_receipt_email_has_no_english(db, settings, smtp, clock):
    from tests.telegram.test_customer_kiswahili import english_only_words
    from tests.telegram.test_customer_kiswahili import words

    settings = smtp_settings(settings, smtp.port)
    await receipt_row(settings, clock, await paid_order(language="sw"))
    await outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock).run_once()

    message = smtp.received[0].message
    read = message["Subject"] + "\n" + message.get_body(("plain",)).get_content()
    read = read.replace("Household Planet Kenya", "").replace("Blender 2L", "")
    assert words(read) & english_only_words() == set()


async def test_starttls_required_but_not_offered_sends_nothing_and_is_retried(
    db, settings, smtp: SmtpServer, clock
):
    # SMTP_STARTTLS (the default) is required: a server without it never gets the message
    settings = smtp_settings(settings, smtp.port, smtp_starttls=True)
    row = await receipt_row(settings, clock, await paid_order())

    assert (
        await outbox(SmtpEmail(settings, EmailComposer(settings, clock=clock)), clock).run_once()
        == 0
    )

    later = await Notification.get(id=row.id)
    assert later.status == NotificationStatus.PENDING
    assert "nothing was sent" in later.last_error
    assert (smtp.logins, smtp.received) == ([], [])
