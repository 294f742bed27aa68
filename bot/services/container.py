"""Builds the services from the settings: one place that knows how the engine fits together."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from airtel.client import AirtelConfig
from bot.callback_paths import callback_urls
from bot.config import Settings
from bot.notify.channels import Channel
from bot.notify.notifier import Notifier
from bot.notify.outbox import OutboxWorker
from bot.notify.webhook import webhook_channel
from bot.services.accounts import AccountService
from bot.services.airtel_money import AirtelMoney
from bot.services.api_keys import ApiKeyService
from bot.services.bulk import BulkService
from bot.services.bulk_decisions import BatchDecisions
from bot.services.bulk_sender import BulkSender
from bot.services.c2b import C2BService
from bot.services.callbacks import CallbackService
from bot.services.checkout import CheckoutService
from bot.services.customers import CustomerService
from bot.services.daraja import Daraja
from bot.services.dashboard import DashboardAccess
from bot.services.idempotency import IdempotencyStore
from bot.services.idempotency import purge_idempotency_records
from bot.services.intents import Intents
from bot.services.order_payments import OrderPaymentService
from bot.services.orders import OrderService
from bot.services.outcome import Clock
from bot.services.outcome import utcnow
from bot.services.overview import OverviewService
from bot.services.payment_search import PaymentSearch
from bot.services.payments import PaymentService
from bot.services.payout_search import PayoutSearch
from bot.services.payouts import PayoutService
from bot.services.reconcile import Reconciler
from bot.services.reports import ReportService
from bot.services.resolutions import ResolutionService
from bot.services.reversals import ReversalService
from bot.services.schedules import ScheduleService
from bot.services.staff import StaffService
from bot.services.summaries import DailySummaries
from models import NotificationChannel
from mpesa.client import DarajaConfig
from mpesa.errors import ConfigurationError
from mpesa.security import load_certificate
from mpesa.security import security_credential

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
    resolutions: ResolutionService
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
    batches: BatchDecisions
    bulk_sender: BulkSender
    schedules: ScheduleService
    dashboard: DashboardAccess
    payment_search: PaymentSearch
    overview: OverviewService
    payout_search: PayoutSearch
    summaries: DailySummaries
    bot_username: str | None = None  # known once the bot has said getMe; used in deep links


def build_services(
    settings: Settings,
    *,
    daraja: Daraja,
    channels: Mapping[NotificationChannel, Channel],
    airtel: AirtelMoney | None = None,
    clock: Clock = utcnow,
) -> Services:
    """Wire the services together around one Daraja client (and, with AIRTEL_ENABLED, one
    Airtel client) and the delivery channels."""
    if not settings.airtel_enabled:
        airtel = None  # Airtel numbers are then refused with today's reason, everywhere
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
    payments = PaymentService(**money, intents=intents, airtel=airtel)
    c2b = C2BService(notifier=notifier, settings=settings, clock=clock)
    payouts = PayoutService(**money, staff=staff, intents=intents, airtel=airtel)
    reversals = ReversalService(**money, staff=staff, intents=intents)
    accounts = AccountService(
        **money, staff=staff, payouts=payouts.results, reversals=reversals, airtel=airtel
    )
    # the callback service hands itself to the others as their replay_unmatched hook
    callbacks = CallbackService(
        payments=payments,
        c2b=c2b,
        payouts=payouts.results,
        accounts=accounts,
        reversals=reversals,
        airtel_payouts=payouts.airtel,
        airtel_hash_key=(
            settings.airtel_callback_hash_key.get_secret_value()
            if settings.airtel_callback_hash_key is not None
            else None
        ),
        airtel_hash_inputs=settings.airtel_hash_inputs,
        clock=clock,
    )
    webhook = webhook_channel(settings)
    if webhook is not None and NotificationChannel.WEBHOOK not in channels:
        channels = {**channels, NotificationChannel.WEBHOOK: webhook}
    outbox = OutboxWorker(channels, clock=clock)
    orders = OrderService(notifier=notifier, settings=settings, clock=clock)
    order_payments = OrderPaymentService(orders=orders, payments=payments)
    api_keys = ApiKeyService(clock=clock)
    bulk = BulkService(notifier=notifier, staff=staff, settings=settings, clock=clock)
    bulk_sender = BulkSender(
        payouts=payouts, notifier=notifier, pace_per_s=settings.bulk_payouts_per_s, clock=clock
    )
    schedules = ScheduleService(
        payments=payments,
        staff=staff,
        notifier=notifier,
        settings=settings,
        clock=clock,
        start_payout=bulk_sender.start_scheduled_payout,
    )

    async def housekeeping() -> int:
        # audit the failed API authentications of closed windows, forget old idempotency keys
        await api_keys.flush_failures()
        return await purge_idempotency_records(clock())

    # the composition root spells out each service's parts: alike lines, each a different wire
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
        resolutions=ResolutionService(
            payments=payments, payouts=payouts, reversals=reversals, staff=staff, clock=clock
        ),
        accounts=accounts,
        callbacks=callbacks,
        reports=ReportService(
            extra_prefixes=settings.mpesa_extra_prefixes, clock=clock, settings=settings
        ),
        outbox=outbox,
        reconciler=Reconciler(
            payments,
            payouts,
            outbox,
            reversals=reversals,
            callbacks=callbacks,
            housekeeping=housekeeping,
            batches=bulk_sender,
        ),
        api_keys=api_keys,
        idempotency=IdempotencyStore(in_progress_s=settings.daraja_call_max_s, clock=clock),
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
        bulk=bulk,
        batches=BatchDecisions(
            bulk=bulk, payouts=payouts, staff=staff, notifier=notifier, clock=clock
        ),
        bulk_sender=bulk_sender,
        schedules=schedules,
        summaries=DailySummaries(notifier=notifier, settings=settings, clock=clock),
        dashboard=DashboardAccess(
            staff=staff,
            link_ttl_s=settings.dashboard_link_ttl_s,
            idle_timeout_s=settings.dashboard_idle_timeout_s,
            clock=clock,
        ),
        payment_search=PaymentSearch(settings=settings),
        overview=OverviewService(low_balance=settings.dashboard_low_balance, clock=clock),
        payout_search=PayoutSearch(payouts=payouts, staff=staff),
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


def airtel_config(settings: Settings, *, client_id: str, client_secret: str) -> AirtelConfig:
    """The Airtel client's configuration, with the unconfirmed choices as the settings say."""
    pin = settings.airtel_disbursement_pin
    return AirtelConfig(
        base_url=settings.airtel_api_base_url,
        client_id=client_id,
        client_secret=client_secret,
        country=settings.airtel_country,
        currency=settings.airtel_currency,
        disbursement_pin=pin.get_secret_value() if pin is not None else "",
        public_key=_read_key(settings.airtel_public_key_path),
        pin_padding=settings.airtel_pin_padding,
        signing=settings.airtel_signing,
        signing_padding=settings.airtel_signing_padding,
        collection_version=settings.airtel_collection_version.value,
        disbursement_version=settings.airtel_disbursement_version.value,
    )


def _read_key(path: Path | None) -> bytes | None:
    """AIRTEL_PUBLIC_KEY_PATH's bytes (the client reads PEM, a certificate or bare Base64)."""
    return path.read_bytes() if path is not None else None
