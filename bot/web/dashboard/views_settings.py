"""The settings page (admins, read only): where this service stands and what to register.

It shows the environment, shortcodes, the callback URLs to register with Safaricom (and Airtel),
the webhook endpoints, and on request what ``mpesa-bot check`` says (bot/checks.py).
"""

from __future__ import annotations

from aiohttp import web

from bot.callback_paths import airtel_callback_url
from bot.callback_paths import callback_urls
from bot.checks import run_checks
from bot.services.audit import actor_for_telegram
from bot.services.audit import audit
from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import SETTINGS_KEY
from bot.web.dashboard.render import render

CALLBACK_LABELS = {
    "stk": "STK Push result (CallBackURL)",
    "b2c_result": "B2C result (ResultURL)",
    "b2c_timeout": "B2C time-out (QueueTimeOutURL)",
    "status_result": "Transaction status result",
    "status_timeout": "Transaction status time-out",
    "balance_result": "Account balance result",
    "balance_timeout": "Account balance time-out",
    "reversal_result": "Reversal result",
    "reversal_timeout": "Reversal time-out",
    "c2b_confirmation": "C2B ConfirmationURL (register with c2b-register)",
    "c2b_validation": "C2B ValidationURL (register with c2b-register)",
}


@requires("admin")
async def settings_page(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/settings[?check=1]: the settings that matter, read only."""
    settings = request.app[SETTINGS_KEY]
    public = settings.public_base_url or ""
    secret = settings.resolved_callback_secret()
    callbacks = []
    if public:
        urls = callback_urls(public, secret)
        callbacks = [(label, getattr(urls, name)) for name, label in CALLBACK_LABELS.items()]
        if settings.airtel_enabled:
            callbacks.append(
                (
                    "Airtel Money callback (set in the Airtel portal)",
                    airtel_callback_url(public, secret),
                )
            )
    webhooks = [
        ("Shop REST API", f"{public.rstrip('/')}/api/v1" if public else "-"),
        ("Events to the shop (SHOP_WEBHOOK_URL)", settings.shop_webhook_url or "off"),
        ("Telegram updates", settings.telegram_webhook_url or "polling (no webhook)"),
        ("Health", f"{public.rstrip('/')}/healthz" if public else "-"),
    ]
    checks = None
    if request.query.get("check") == "1":
        staff = request["staff"]
        checks = await run_checks(settings, database_open=True)
        await audit(
            actor_for_telegram(staff.telegram_id),
            "dashboard.check",
            subject="settings",
            outcome="ok" if all(c.ok for c in checks) else "failed",
            via="dashboard",
        )
    facts = [
        ("Environment", settings.mpesa_environment.value),
        ("Daraja", settings.daraja_base_url),
        ("Shortcode (STK, C2B)", settings.mpesa_shortcode),
        ("Paybill shown to customers", settings.paybill),
        ("B2C shortcode", settings.b2c_shortcode),
        ("Transaction type", settings.mpesa_transaction_type.value),
        ("Airtel Money", "on" if settings.airtel_enabled else "off"),
        ("Public address", public or "not set"),
        ("Payout approval from", f"KES {settings.payout_approval_threshold:,}"),
        ("Default daily payout limit", f"KES {settings.staff_daily_payout_limit:,}"),
        ("Dashboard sign-in link lifetime", f"{settings.dashboard_link_ttl_s} s"),
        ("Dashboard idle time-out", f"{settings.dashboard_idle_timeout_s} s"),
    ]
    return render(
        request, "settings.html", facts=facts, callbacks=callbacks, webhooks=webhooks, checks=checks
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """The settings route."""
    router.add_get("/settings", settings_page, name="settings")
