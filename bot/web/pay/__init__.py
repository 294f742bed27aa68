"""The payment page, PUBLIC_BASE_URL/pay/<code>: an aiohttp sub-application with its own Jinja
environment (autoescaped), middlewares and static files.

Routes (under /pay): ``GET /{code}`` the page, ``POST /{code}`` pay, ``POST /{code}/retry`` try
again, ``GET /{code}/status`` the state as JSON (the page's script polls it), ``GET
/{code}/receipt`` the printable receipt, ``GET /{code}/receipt.pdf``, ``GET /{code}/qr.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.config import Settings
from bot.web.pay import views
from bot.web.pay.security import CsrfTokens
from bot.web.pay.security import MissLimiter
from bot.web.pay.security import browser_headers

HERE = Path(__file__).parent
MAX_FORM_BYTES = 16 * 1024


def create_pay_app(settings: Settings) -> web.Application:
    """The /pay sub-application (services come from the parent app)."""
    app = web.Application(middlewares=[browser_headers], client_max_size=MAX_FORM_BYTES)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        app_key=views.JINJA_KEY,
        undefined=jinja2.StrictUndefined,
    )
    app[views.CSRF] = CsrfTokens(settings.resolved_callback_secret())
    app[views.MISSES] = MissLimiter()
    app[views.SETTINGS] = settings
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    app.router.add_get("/{code}", views.show, name="page")
    app.router.add_post("/{code}", views.pay)
    app.router.add_post("/{code}/retry", views.retry, name="retry")
    app.router.add_get("/{code}/status", views.status, name="status")
    app.router.add_get("/{code}/receipt", views.receipt, name="receipt")
    app.router.add_get("/{code}/receipt.pdf", views.receipt_pdf, name="receipt_pdf")
    app.router.add_get("/{code}/qr.png", views.qr, name="qr")
    return app


def register_pay_page(app: web.Application, *, settings: Settings) -> Any:
    """Mount the payment page under /pay of ``app``."""
    pay_app = create_pay_app(settings)
    app.add_subapp("/pay", pay_app)
    return pay_app
