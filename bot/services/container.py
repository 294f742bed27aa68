"""Builds the services from the settings: one place that knows how the engine fits together."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.callback_paths import callback_urls
from bot.config import Settings
from bot.notify.channels import Channel
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from bot.notify.webhook import webhook_channel
from bot.services.accounts import AccountService
from bot.services.api_keys import ApiKeyService
from bot.services.bulk import BulkService
from bot.services.c2b import C2BService
from bot.services.callbacks import CallbackService
from bot.services.checkout import CheckoutService
from bot.services.customers import CustomerService
from bot.services.daraja import Daraja
from bot.services.idempotency import IdempotencyStore, purge_idempotency_records
from bot.services.intents import Intents
from bot.services.order_payments import OrderPaymentService
from bot.services.orders import OrderService
from bot.services.payments import PaymentService
from bot.services.payouts import PayoutService
from bot.services.reconcile import Reconciler
from bot.services.reports import ReportService
from bot.services.reversals import ReversalService
from bot.services.schedules import ScheduleService
from bot.services.staff import StaffService
from models import NotificationChannel
from mpesa.client import DarajaConfig
from mpesa.errors import ConfigurationError
from mpesa.security import load_certificate, security_credential

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Every service of the engine, built once per process and passed to handlers and routes."""

    settings: Settings
    notifier: Notifier
    staff: StaffService
    orders: OrderService
    payments: PaymentService
    order_payments: OrderPaymentService
    c2b: C2BService
    payouts: PayoutService
    reversals: ReversalService
    accounts: AccountService
    callbacks: CallbackService
    reports: ReportService
    outbox: OutboxWorker
    reconciler: Reconciler
    api_keys: ApiKeyService
    idempotency: IdempotencyStore
    customers: CustomerService
    checkout: CheckoutService
    bulk: BulkService
    schedules: ScheduleService
    bot_username: str | None = None  # known once the bot has said getMe; used in deep links


def build_services(
    settings: Settings,
    *,
    daraja: Daraja,
    channels: Mapping[NotificationChannel, Channel],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Services:
    """Wire the services together around one Daraja client and the delivery channels."""
    notifier = Notifier(
        business_name=settings.business_name,
        admin_telegram_ids=settings.admin_telegram_ids,
        sms_enabled=NotificationChannel.SMS in channels,
        webhook_url=settings.shop_webhook_url,
        clock=clock,
        default_language=settings.default_language,
        admin_emails=settings.admin_emails,
        email_enabled=NotificationChannel.EMAIL in channels,
    )
    staff = StaffService(
        bootstrap_admin_ids=settings.admin_telegram_ids,
        default_daily_payout_limit=settings.staff_daily_payout_limit,
    )
    # one lease-keeper for every money intent of this process
    intents = Intents(clock=clock, lease_s=settings.daraja_call_max_s)
    money = {"daraja": daraja, "notifier": notifier, "settings": settings, "clock": clock}
    payments = PaymentService(**money, intents=intents)
    c2b = C2BService(notifier=notifier, settings=settings, clock=clock)
    payouts = PayoutService(**money, staff=staff, intents=intents)
    reversals = ReversalService(**money, staff=staff, intents=intents)
    accounts = AccountService(**money, staff=staff, payouts=payouts.results, reversals=reversals)
    # the callback service hands itself to the others as their replay_unmatched hook
    callbacks = CallbackService(
        payments=payments,
        c2b=c2b,
        payouts=payouts.results,
        accounts=accounts,
        reversals=reversals,
        clock=clock,
    )
    webhook = webhook_channel(settings)
    if webhook is not None and NotificationChannel.WEBHOOK not in channels:
        channels = {**channels, NotificationChannel.WEBHOOK: webhook}
    outbox = OutboxWorker(channels, clock=clock)
    orders = OrderService(notifier=notifier, settings=settings, clock=clock)
    order_payments = OrderPaymentService(orders=orders, payments=payments)
    api_keys = ApiKeyService(clock=clock)

    async def housekeeping() -> int:
        # audit the failed API authentications of closed windows, forget old idempotency keys
        await api_keys.flush_failures()
        return await purge_idempotency_records(clock())

    return Services(
        settings=settings,
        notifier=notifier,
        staff=staff,
        orders=orders,
        payments=payments,
        order_payments=order_payments,
        c2b=c2b,
        payouts=payouts,
        reversals=reversals,
        accounts=accounts,
        callbacks=callbacks,
        reports=ReportService(extra_prefixes=settings.mpesa_extra_prefixes, clock=clock),
        outbox=outbox,
        reconciler=Reconciler(
            payments,
            payouts,
            outbox,
            reversals=reversals,
            callbacks=callbacks,
            housekeeping=housekeeping,
        ),
        api_keys=api_keys,
        idempotency=IdempotencyStore(clock=clock),
        customers=CustomerService(
            payments=payments, orders=orders, order_payments=order_payments, settings=settings
        ),
        checkout=CheckoutService(
            payments=payments,
            orders=orders,
            order_payments=order_payments,
            settings=settings,
            notifier=notifier,
            clock=clock,
        ),
        bulk=BulkService(notifier=notifier, staff=staff, settings=settings, clock=clock),
        schedules=ScheduleService(
            payments=payments, staff=staff, notifier=notifier, settings=settings, clock=clock
        ),
    )


def daraja_config(
    settings: Settings, *, consumer_key: str, consumer_secret: str, passkey: str
) -> DarajaConfig:
    """The Daraja client's configuration: shortcodes, passkey, credential and our callback URLs."""
    if not settings.public_base_url:
        raise ConfigurationError(
            "PUBLIC_BASE_URL is not set: Safaricom needs it to reach our callbacks"
        )
    return DarajaConfig(
        base_url=settings.daraja_base_url,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        shortcode=settings.mpesa_shortcode,
        passkey=passkey,
        callbacks=callback_urls(settings.public_base_url, settings.resolved_callback_secret()),
        transaction_type=settings.mpesa_transaction_type.value,
        party_b=settings.mpesa_till_number,
        b2c_shortcode=settings.b2c_shortcode,
        initiator_name=settings.mpesa_initiator_name or "",
        security_credential=resolve_security_credential(settings),
    )


def resolve_security_credential(settings: Settings) -> str:
    """MPESA_SECURITY_CREDENTIAL, else the initiator password encrypted with MPESA_CERT_PATH."""
    if settings.mpesa_security_credential is not None:
        return settings.mpesa_security_credential.get_secret_value()
    if settings.mpesa_initiator_password is None:
        return ""  # B2C, balance, status and reversal are then refused with a clear error
    if settings.mpesa_cert_path is None:
        raise ConfigurationError(
            "MPESA_INITIATOR_PASSWORD needs MPESA_CERT_PATH (Safaricom's certificate) to be "
            "encrypted, or set MPESA_SECURITY_CREDENTIAL instead"
        )
    certificate = load_certificate(settings.mpesa_cert_path)
    return security_credential(settings.mpesa_initiator_password.get_secret_value(), certificate)
