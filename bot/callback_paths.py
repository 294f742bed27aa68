"""Where Daraja and Airtel post callbacks: one path per kind under ``/hooks/<secret>/``.

The services tell Daraja these URLs and the web routes listen on them, so this module sits below
both and imports neither. Airtel's callback URL is not sent with requests: it is set once in the
Airtel portal (``airtel_callback_url``), and the simulator is told it the same way.
"""

from __future__ import annotations

from types import MappingProxyType

from bot.config import FORBIDDEN_URL_WORDS
from models import CallbackKind
from mpesa.models import CallbackUrls

HOOKS_PREFIX = "/hooks"

# the suffix after /hooks/<secret>/ for each kind (matches tests/fixtures/daraja/*_request.json)
CALLBACK_ROUTES = MappingProxyType(
    {
        CallbackKind.STK: "stk",
        CallbackKind.B2C_RESULT: "b2c/result",
        CallbackKind.B2C_TIMEOUT: "b2c/timeout",
        CallbackKind.STATUS_RESULT: "status/result",
        CallbackKind.STATUS_TIMEOUT: "status/timeout",
        CallbackKind.BALANCE_RESULT: "balance/result",
        CallbackKind.BALANCE_TIMEOUT: "balance/timeout",
        CallbackKind.REVERSAL_RESULT: "reversal/result",
        CallbackKind.REVERSAL_TIMEOUT: "reversal/timeout",
        CallbackKind.C2B_VALIDATION: "c2b/validate",
        CallbackKind.C2B_CONFIRMATION: "c2b/confirm",
        CallbackKind.AIRTEL_COLLECTION: "airtel/collection",
        CallbackKind.AIRTEL_DISBURSEMENT: "airtel/disbursement",
    }
)
AIRTEL_KINDS = (CallbackKind.AIRTEL_COLLECTION, CallbackKind.AIRTEL_DISBURSEMENT)
DARAJA_KINDS = tuple(kind for kind in CALLBACK_ROUTES if kind not in AIRTEL_KINDS)


def forbidden_word(text: str) -> str | None:
    """The first word Safaricom refuses in callback URLs found in ``text`` (any case), or None."""
    lowered = text.lower()
    return next((word for word in FORBIDDEN_URL_WORDS if word in lowered), None)


def callback_path(secret: str, kind: CallbackKind) -> str:
    """The path (no host) Daraja posts ``kind`` callbacks to; refuses a path Safaricom would."""
    path = f"{HOOKS_PREFIX}/{secret}/{CALLBACK_ROUTES[kind]}"
    word = forbidden_word(path)
    if word is not None:
        # a generated secret can contain e.g. "sql" by chance: say so instead of failing later
        raise ValueError(
            f"the callback path contains {word!r}, which Safaricom refuses in URLs; "
            "choose another CALLBACK_SECRET"
        )
    return path


def callback_urls(public_base_url: str, secret: str) -> CallbackUrls:
    """Every callback URL to register with Daraja for this server and secret."""
    base = public_base_url.rstrip("/")
    word = forbidden_word(base)
    if word is not None:
        raise ValueError(f"PUBLIC_BASE_URL contains {word!r}, which Safaricom refuses in URLs")

    def url(kind: CallbackKind) -> str:
        return base + callback_path(secret, kind)

    return CallbackUrls(
        stk=url(CallbackKind.STK),
        b2c_result=url(CallbackKind.B2C_RESULT),
        b2c_timeout=url(CallbackKind.B2C_TIMEOUT),
        status_result=url(CallbackKind.STATUS_RESULT),
        status_timeout=url(CallbackKind.STATUS_TIMEOUT),
        balance_result=url(CallbackKind.BALANCE_RESULT),
        balance_timeout=url(CallbackKind.BALANCE_TIMEOUT),
        reversal_result=url(CallbackKind.REVERSAL_RESULT),
        reversal_timeout=url(CallbackKind.REVERSAL_TIMEOUT),
        c2b_confirmation=url(CallbackKind.C2B_CONFIRMATION),
        c2b_validation=url(CallbackKind.C2B_VALIDATION),
    )


def airtel_callback_url(
    public_base_url: str, secret: str, kind: CallbackKind = CallbackKind.AIRTEL_COLLECTION
) -> str:
    """The URL to set as the callback URL of the Airtel app (collections, by default)."""
    if kind not in AIRTEL_KINDS:
        raise ValueError(f"{kind} is not an Airtel callback")
    return public_base_url.rstrip("/") + callback_path(secret, kind)
