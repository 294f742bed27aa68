"""The one settings object: read from the environment and `.env`, checked once at start-up."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices
from pydantic import Field
from pydantic import SecretStr
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import NoDecode
from pydantic_settings import SettingsConfigDict

from airtel.security import HashInput
from airtel.security import RsaPadding

SANDBOX_BASE_URL = "https://sandbox.safaricom.co.ke"
PRODUCTION_BASE_URL = "https://api.safaricom.co.ke"
# no Kenyan host is known: the pan-African hosts serve KE with X-Country: KE (airtel.md §1)
AIRTEL_UAT_BASE_URL = "https://openapiuat.airtel.africa"
AIRTEL_PRODUCTION_BASE_URL = "https://openapi.airtel.africa"

# Daraja's documented field limits (daraja.md §6.1, §14).
ACCOUNT_REFERENCE_LIMIT = 12
TRANSACTION_DESC_LIMIT = 13

# Widely circulated as Safaricom's callback source addresses (unconfirmed; daraja.md §12).
SAFARICOM_CALLBACK_NETWORKS = (
    "196.201.214.200/32",
    "196.201.214.206/32",
    "196.201.214.207/32",
    "196.201.214.208/32",
    "196.201.213.114/32",
    "196.201.213.44/32",
    "196.201.212.127/32",
    "196.201.212.128/32",
    "196.201.212.129/32",
    "196.201.212.132/32",
    "196.201.212.136/32",
    "196.201.212.138/32",
    "196.201.212.69/32",
    "196.201.212.74/32",
    "196.201.214.212/32",
)

# Paths Safaricom refuses in registered C2B URLs (daraja.md §11.1).
FORBIDDEN_URL_WORDS = ("m-pesa", "mpesa", "safaricom", "exec", "exe", "cmd", "sql", "query")


class MpesaEnvironment(StrEnum):
    """Which Daraja the business talks to."""

    SANDBOX = "sandbox"
    PRODUCTION = "production"


class AirtelEnvironment(StrEnum):
    """Which Airtel Open API the business talks to (airtel.md §1)."""

    UAT = "uat"
    PRODUCTION = "production"


class AirtelVersion(StrEnum):
    """Airtel API versions: v1 is what most integrations use, v2 what the docs recommend."""

    V1 = "v1"
    V2 = "v2"


class TransactionType(StrEnum):
    """STK Push transaction types: paybill or till."""

    PAYBILL = "CustomerPayBillOnline"
    TILL = "CustomerBuyGoodsOnline"


def _split_list(value: Any) -> Any:
    """Turn a comma-separated setting into a list; lists pass through."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, int):
        return [value]
    return value


CommaList = Annotated[list[str], NoDecode]
CommaIntList = Annotated[list[int], NoDecode]


class Settings(BaseSettings):
    """Every setting of the service; names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        env_ignore_empty=True,  # `NAME=` in .env means "use the default"
    )

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    admin_telegram_ids: CommaIntList = Field(default_factory=list)

    # Daraja
    mpesa_environment: MpesaEnvironment = MpesaEnvironment.SANDBOX
    mpesa_base_url: str | None = None
    mpesa_consumer_key: SecretStr | None = None
    mpesa_consumer_secret: SecretStr | None = None
    mpesa_shortcode: str = "174379"
    mpesa_passkey: SecretStr | None = None
    mpesa_transaction_type: TransactionType = TransactionType.PAYBILL
    mpesa_till_number: str | None = None
    # within Daraja's documented 12 / 13 characters; longer values are sent with a warning
    mpesa_account_reference: str = "HPlanet"
    mpesa_transaction_desc: str = "Payment"
    mpesa_initiator_name: str | None = None
    mpesa_initiator_password: SecretStr | None = None
    mpesa_security_credential: SecretStr | None = None
    mpesa_cert_path: Path | None = None
    mpesa_b2c_shortcode: str | None = None
    mpesa_max_amount: int = Field(default=250_000, ge=10)
    mpesa_extra_prefixes: CommaList = Field(default_factory=list)
    mpesa_confirm_by_query: bool | None = None
    mpesa_timeout_s: float = Field(default=30.0, gt=0)

    # Airtel Money (a second provider; off unless AIRTEL_ENABLED)
    airtel_enabled: bool = False
    airtel_environment: AirtelEnvironment = AirtelEnvironment.UAT
    airtel_base_url: str | None = None
    airtel_client_id: SecretStr | None = None
    airtel_client_secret: SecretStr | None = None
    airtel_country: str = "KE"
    airtel_currency: str = "KES"
    airtel_disbursement_pin: SecretStr | None = None
    airtel_public_key_path: Path | None = None
    # the choices the reference marks unconfirmed for Kenya, with its most likely value
    airtel_pin_padding: RsaPadding = RsaPadding.PKCS1V15
    airtel_signing: bool = False
    airtel_signing_padding: RsaPadding = RsaPadding.PKCS1V15
    airtel_callback_hash_key: SecretStr | None = None
    airtel_callback_hash_input: CommaList = Field(
        default_factory=lambda: [HashInput.TRANSACTION_JSON.value]
    )
    airtel_collection_version: AirtelVersion = AirtelVersion.V1
    airtel_disbursement_version: AirtelVersion = AirtelVersion.V1
    airtel_max_amount: int = Field(default=250_000, ge=10)
    airtel_extra_prefixes: CommaList = Field(default_factory=list)
    airtel_confirm_by_enquiry: bool | None = None
    airtel_timeout_s: float = Field(default=30.0, gt=0)
    airtel_enquiry_after_s: float = Field(default=180.0, ge=0)
    airtel_enquiry_every_s: float = Field(default=60.0, gt=0)
    airtel_enquiry_max_attempts: int = Field(default=15, ge=1)

    # Our web server (Daraja callbacks, Telegram webhook, health, metrics, API)
    public_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("PUBLIC_BASE_URL", "SITE_URL", "APP_URL")
    )
    callback_secret: SecretStr | None = None
    callback_allowed_networks: CommaList | None = None
    trusted_proxies: CommaList = Field(default_factory=list)
    web_host: str = "0.0.0.0"  # noqa: S104 - Safaricom must reach the callback server
    web_port: int = Field(default=8080, ge=0, le=65535)

    # Storage
    data_dir: Path = Path("data")
    database_url: str | None = None

    # Africa's Talking (SMS receipts)
    at_username: str | None = None
    at_api_key: SecretStr | None = None
    at_sender_id: str | None = None
    at_base_url: str | None = None

    # E-mail (receipts, admin alerts, the daily summary)
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    # STARTTLS on a plain connection (port 587), required: no e-mail goes out unencrypted
    smtp_starttls: bool = True
    # TLS from the first byte (port 465) instead; SMTP_STARTTLS is then not used
    smtp_tls: bool = False
    # one SMTP step (connect, a command, the message); the whole conversation has its own
    # deadline inside the outbox's claim (bot.notify.smtp)
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=60)
    admin_emails: CommaList = Field(default_factory=list)
    daily_summary_time: str | None = "20:00"

    # Customers: languages and the payment page
    default_language: str = "en"
    pay_link_max_prompts_per_order: int = Field(default=5, ge=1)
    pay_link_max_prompts_per_address: int = Field(default=10, ge=1)
    pay_link_limit_window_s: float = Field(default=3600.0, gt=0)

    # The web dashboard for staff (PUBLIC_BASE_URL/dashboard; sign-in links come from /dashboard)
    dashboard_enabled: bool = True
    dashboard_link_ttl_s: int = Field(default=600, ge=30, le=86_400)
    dashboard_secret_key: SecretStr | None = None
    dashboard_idle_timeout_s: int = Field(default=1800, ge=60, le=7 * 86_400)
    dashboard_low_balance: int = Field(default=10_000, ge=0)

    # Business rules
    business_name: str = "Household Planet Kenya"
    payout_approval_threshold: int = Field(default=10_000, ge=0)
    staff_daily_payout_limit: int = Field(default=100_000, ge=0)

    # Bulk payouts and schedules
    bulk_max_file_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    bulk_max_rows: int = Field(default=5_000, ge=1)
    bulk_payouts_per_s: float = Field(default=2.0, gt=0)
    schedule_check_interval_s: float = Field(default=30.0, gt=0)
    schedule_grace_s: float = Field(default=3600.0, ge=0)
    schedule_notice_before_s: float = Field(default=86_400.0, ge=0)
    schedule_reminder_before_s: float = Field(default=3600.0, ge=0)
    schedule_reminder_min_amount: int = Field(default=10_000, ge=0)

    # Shop integration (REST API and signed webhooks)
    shop_webhook_url: str | None = None
    shop_webhook_secret: SecretStr | None = None
    api_rate_limit_per_minute: int = Field(default=120, ge=1)
    api_auth_failures_per_minute: int = Field(default=10, ge=1)

    # Reconciliation (seconds)
    reconcile_interval_s: float = Field(default=30.0, gt=0)
    stk_query_after_s: float = Field(default=45.0, ge=0)
    stk_query_every_s: float = Field(default=30.0, gt=0)
    stk_query_max_attempts: int = Field(default=10, ge=1)
    stk_query_rate_per_s: float = Field(default=1.0, gt=0)
    b2c_query_after_s: float = Field(default=120.0, ge=0)
    b2c_query_max_attempts: int = Field(default=10, ge=1)
    stk_prompt_window_s: float = Field(default=180.0, gt=0)
    unmatched_callback_alert_s: float = Field(default=300.0, gt=0)

    log_level: str = "INFO"

    _split = field_validator(
        "admin_telegram_ids",
        "mpesa_extra_prefixes",
        "airtel_extra_prefixes",
        "airtel_callback_hash_input",
        "callback_allowed_networks",
        "trusted_proxies",
        "admin_emails",
        mode="before",
    )(_split_list)

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("en", "sw"):
            raise ValueError("must be en (English) or sw (Kiswahili)")
        return value

    @field_validator("admin_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _looks_like_email(item):
                raise ValueError(f"{item!r} is not an e-mail address")
        return value

    @field_validator("smtp_from")
    @classmethod
    def _from_address(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        address = value.rsplit("<", 1)[-1].rstrip(">").strip()
        if not _looks_like_email(address):
            raise ValueError(f"{value!r} is not an e-mail address (or Name <address>)")
        return value.strip()

    @field_validator("daily_summary_time")
    @classmethod
    def _summary_time(cls, value: str | None) -> str | None:
        if value in (None, "", "off"):
            return None
        hours, _, minutes = value.strip().partition(":")
        if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
            raise ValueError(f"{value!r} is not a time like 20:00 (Nairobi), or off")
        if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
            raise ValueError(f"{value!r} is not a time of day")
        return f"{int(hours):02d}:{minutes}"

    @field_validator("mpesa_shortcode", "mpesa_b2c_shortcode", "mpesa_till_number")
    @classmethod
    def _shortcode_digits(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value == "" else value
        value = value.strip()
        if not value.isdigit() or not 5 <= len(value) <= 7:
            raise ValueError(f"{value!r} is not a shortcode (5 to 7 digits)")
        return value

    @field_validator("telegram_api_base_url", "mpesa_base_url", "airtel_base_url", "at_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("shop_webhook_url")
    @classmethod
    def _shop_webhook_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            # plain http is for a local Bot API server (tests, the demo); Telegram needs https
            raise ValueError(
                "Telegram only delivers webhooks to https URLs; plain http is allowed only for "
                "loopback addresses"
            )
        return value

    @field_validator("callback_secret", "telegram_webhook_secret")
    @classmethod
    def _secret_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        text = value.get_secret_value()
        if len(text) < 16:
            raise ValueError(
                "must be at least 16 characters (it makes the callback URLs unguessable)"
            )
        if not all(c.isalnum() or c in "-_" for c in text):
            raise ValueError("may only contain letters, digits, '-' and '_' (it is a URL segment)")
        return value

    @field_validator("dashboard_secret_key")
    @classmethod
    def _dashboard_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value().strip() == "":
            return None
        if len(value.get_secret_value().strip()) < 32:
            raise ValueError(
                "must be at least 32 characters (a Fernet key, or any long random text); "
                "leave it unset to keep a generated key in DATA_DIR"
            )
        return value

    @field_validator("callback_secret")
    @classmethod
    def _secret_words(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            lowered = value.get_secret_value().lower()
            for word in FORBIDDEN_URL_WORDS:
                if word in lowered:
                    raise ValueError(f"contains {word!r}, which Safaricom refuses in callback URLs")
        return value

    @field_validator("callback_allowed_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value

    @field_validator("mpesa_extra_prefixes", "airtel_extra_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.isdigit():
                raise ValueError(f"{item!r} is not a phone prefix like 0733 or 254733")
            if len(normalized_prefix(item)) < 5:
                raise ValueError(f"{item!r} is too short; use 3+ digits like 073")
        return value

    @field_validator("airtel_callback_hash_input")
    @classmethod
    def _hash_inputs(cls, value: list[str]) -> list[str]:
        known = [choice.value for choice in HashInput]
        if not value:
            raise ValueError(f"give at least one of {', '.join(known)}")
        for item in value:
            if item not in known:
                raise ValueError(f"{item!r} is not one of {', '.join(known)}")
        return value

    @field_validator("airtel_country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 2 or not value.isalpha():
            raise ValueError(f"{value!r} is not a two-letter country code like KE")
        return value

    @field_validator("airtel_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"{value!r} is not a three-letter currency code like KES")
        return value

    @field_validator("airtel_disbursement_pin")
    @classmethod
    def _pin(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        pin = value.get_secret_value()
        if len(pin) != 4 or not pin.isdigit():
            raise ValueError("must be the 4 digits set in the Airtel portal")
        return value

    @field_validator("mpesa_account_reference", "mpesa_transaction_desc", "business_name")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems: list[str] = []
        if self.public_base_url:
            problems += _public_url_problems(self.public_base_url, self.mpesa_environment)
        if self.mpesa_transaction_type is TransactionType.TILL and not self.mpesa_till_number:
            problems.append(
                "MPESA_TILL_NUMBER: required when MPESA_TRANSACTION_TYPE is CustomerBuyGoodsOnline "
                "(MPESA_SHORTCODE is then the store number)"
            )
        if self.shop_webhook_url and self.shop_webhook_secret is None:
            problems.append("SHOP_WEBHOOK_SECRET: required with SHOP_WEBHOOK_URL (it signs events)")
        if self.smtp_host and not self.smtp_from:
            problems.append("SMTP_FROM: required with SMTP_HOST (the sender of every e-mail)")
        if (self.smtp_username is None) != (self.smtp_password is None):
            problems.append("SMTP_USERNAME and SMTP_PASSWORD: give both, or neither")
        if self.smtp_tls and self.smtp_starttls and "smtp_starttls" in self.model_fields_set:
            problems.append(
                "SMTP_TLS and SMTP_STARTTLS: choose one (TLS from the first byte, usually port "
                "465, or STARTTLS on a plain connection, usually 587)"
            )
        if self.mpesa_cert_path is not None and not self.mpesa_cert_path.is_file():
            problems.append(f"MPESA_CERT_PATH: no file at {self.mpesa_cert_path}")
        if self.airtel_public_key_path is not None and not self.airtel_public_key_path.is_file():
            problems.append(f"AIRTEL_PUBLIC_KEY_PATH: no file at {self.airtel_public_key_path}")
        both = {normalized_prefix(p) for p in self.mpesa_extra_prefixes} & {
            normalized_prefix(p) for p in self.airtel_extra_prefixes
        }
        if both:
            problems.append(
                "AIRTEL_EXTRA_PREFIXES and MPESA_EXTRA_PREFIXES: "
                f"{', '.join(sorted(both))} is in both; a number has one provider"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived values ------------------------------------------------------------------

    @property
    def daraja_base_url(self) -> str:
        """The Daraja root actually used: MPESA_BASE_URL, else the environment's."""
        if self.mpesa_base_url:
            return self.mpesa_base_url
        if self.mpesa_environment is MpesaEnvironment.PRODUCTION:
            return PRODUCTION_BASE_URL
        return SANDBOX_BASE_URL

    @property
    def is_production(self) -> bool:
        """True when real money moves."""
        return self.mpesa_environment is MpesaEnvironment.PRODUCTION

    @property
    def airtel_api_base_url(self) -> str:
        """The Airtel root actually used: AIRTEL_BASE_URL, else the environment's."""
        if self.airtel_base_url:
            return self.airtel_base_url
        if self.airtel_environment is AirtelEnvironment.PRODUCTION:
            return AIRTEL_PRODUCTION_BASE_URL
        return AIRTEL_UAT_BASE_URL

    @property
    def airtel_confirm(self) -> bool:
        """Settle Airtel callbacks by an enquiry (on by default in production)."""
        if self.airtel_confirm_by_enquiry is None:
            return self.airtel_environment is AirtelEnvironment.PRODUCTION
        return self.airtel_confirm_by_enquiry

    @property
    def airtel_hash_inputs(self) -> tuple[HashInput, ...]:
        """Which bytes an Airtel callback hash may cover, tried in this order."""
        return tuple(HashInput(item) for item in self.airtel_callback_hash_input)

    @property
    def resolved_database_url(self) -> str:
        """DATABASE_URL, else a SQLite file under DATA_DIR."""
        if self.database_url:
            return self.database_url
        return f"sqlite://{self.data_dir / 'mpesa-bot.sqlite3'}"

    @property
    def confirm_by_query(self) -> bool:
        """Confirm success callbacks with an STK query (on by default in production)."""
        if self.mpesa_confirm_by_query is None:
            return self.is_production
        return self.mpesa_confirm_by_query

    @property
    def allowed_callback_networks(self) -> list[str]:
        """Source networks allowed to post callbacks; empty means everyone (sandbox default)."""
        if self.callback_allowed_networks is not None:
            return self.callback_allowed_networks
        return list(SAFARICOM_CALLBACK_NETWORKS) if self.is_production else []

    @property
    def daraja_call_max_s(self) -> float:
        """The longest one Daraja call can run: OAuth and its retries, a token refresh, the POST.

        A lease on a money POST lasts this long, so nobody else touches a row while its request
        may still be on the wire (mpesa.client: 3 attempts of MPESA_TIMEOUT_S per OAuth, one
        refresh, plus back-off), and an Idempotency-Key claim lapses after it. With Airtel on,
        the longer of the two providers' time-outs counts (airtel.client retries alike).
        """
        timeout = self.mpesa_timeout_s
        if self.airtel_enabled:
            timeout = max(timeout, self.airtel_timeout_s)
        return 8 * timeout + 60.0

    @property
    def resolved_smtp_port(self) -> int:
        """SMTP_PORT, else the usual port: 465 with SMTP_TLS, 587 with SMTP_STARTTLS, else 25."""
        if self.smtp_port is not None:
            return self.smtp_port
        if self.smtp_tls:
            return 465
        return 587 if self.smtp_starttls else 25

    @property
    def paybill(self) -> str:
        """The number customers see on receipts: the till number, else the shortcode."""
        return self.mpesa_till_number or self.mpesa_shortcode

    @property
    def b2c_shortcode(self) -> str:
        """PartyA for payouts: MPESA_B2C_SHORTCODE, else MPESA_SHORTCODE."""
        return self.mpesa_b2c_shortcode or self.mpesa_shortcode

    def resolved_callback_secret(self) -> str:
        """CALLBACK_SECRET, else one generated once and kept in DATA_DIR so URLs stay stable."""
        if self.callback_secret is not None:
            return self.callback_secret.get_secret_value()
        path = self.data_dir / "callback_secret"
        if path.is_file():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(24)
        # Safaricom refuses URLs containing words like "sql" or "exe": draw again until clean
        while any(word in value.lower() for word in FORBIDDEN_URL_WORDS):
            value = secrets.token_urlsafe(24)
        path.write_text(value + "\n")
        path.chmod(0o600)
        return value

    def resolved_dashboard_key(self) -> bytes:
        """The dashboard's Fernet key: from DASHBOARD_SECRET_KEY, else made once in DATA_DIR."""
        if self.dashboard_secret_key is not None:
            return dashboard_fernet_key(self.dashboard_secret_key.get_secret_value())
        path = self.data_dir / "dashboard_key"
        if path.is_file():
            return path.read_bytes().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        value = base64.urlsafe_b64encode(secrets.token_bytes(32))
        path.write_bytes(value + b"\n")
        path.chmod(0o600)
        return value

    def warnings(self) -> list[str]:
        """Non-fatal problems worth saying at start-up (never silently corrected)."""
        notes = []
        if len(self.mpesa_account_reference) > ACCOUNT_REFERENCE_LIMIT:
            notes.append(
                f"MPESA_ACCOUNT_REFERENCE {self.mpesa_account_reference!r} is "
                f"{len(self.mpesa_account_reference)} characters; Daraja documents at most "
                f"{ACCOUNT_REFERENCE_LIMIT} (15 was observed accepted). It is sent as is; order "
                "payments use the order code instead. The simulator refuses it unless started "
                "with --level lenient."
            )
        if len(self.mpesa_transaction_desc) > TRANSACTION_DESC_LIMIT:
            notes.append(
                f"MPESA_TRANSACTION_DESC {self.mpesa_transaction_desc!r} is "
                f"{len(self.mpesa_transaction_desc)} characters; Daraja documents at most "
                f"{TRANSACTION_DESC_LIMIT}. It is sent as is; shorten it if Daraja refuses it (the "
                "simulator refuses it unless started with --level lenient)."
            )
        for name in ("mpesa_account_reference", "mpesa_transaction_desc"):
            value = getattr(self, name)
            if any(c in value for c in "&#@<>"):
                notes.append(
                    f"{name.upper()} contains one of & # @ < >, which Daraja is known to "
                    "fail on silently"
                )
        if (
            self.smtp_host
            and not (self.smtp_tls or self.smtp_starttls)
            and not _is_loopback(self.smtp_host)
        ):
            notes.append(
                f"SMTP_TLS and SMTP_STARTTLS are both off: e-mails (and the SMTP login) go to "
                f"{self.smtp_host} unencrypted; use that only for a relay on a private network"
            )
        return notes


def dashboard_fernet_key(text: str) -> bytes:
    """A Fernet key from DASHBOARD_SECRET_KEY: a Fernet key as is, any other text hashed to one."""
    raw = text.strip().encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32 and len(raw) == 44:
            return raw
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(b"mpesa-bot dashboard\0" + raw).digest())


def normalized_prefix(prefix: str) -> str:
    """A configured phone prefix ("0733", "254733", "733") as "254733"."""
    digits = "".join(ch for ch in prefix if ch.isdigit())
    if digits.startswith("254"):
        return digits
    return "254" + digits.removeprefix("0")


def _public_url_problems(url: str, environment: MpesaEnvironment) -> list[str]:
    """Check PUBLIC_BASE_URL: https in production, plain http only for loopback addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"PUBLIC_BASE_URL: {url!r} is not an http(s) URL"]
    problems = []
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        problems.append(
            "PUBLIC_BASE_URL: plain http is allowed only for loopback addresses; Safaricom needs "
            "a public https URL"
        )
    if environment is MpesaEnvironment.PRODUCTION and parts.scheme != "https":
        problems.append("PUBLIC_BASE_URL: production callbacks must use https")
    lowered = url.lower()
    for word in FORBIDDEN_URL_WORDS:
        if word in lowered:
            problems.append(
                f"PUBLIC_BASE_URL: contains {word!r}, which Safaricom refuses in callback URLs"
            )
            break
    return problems


def _looks_like_email(text: str) -> bool:
    """A plain check of an address's shape (one @, a dot in the domain, no spaces)."""
    local, at, domain = text.strip().rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in text.strip()))


def _is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(Exception):
    """Settings are wrong or missing; str() names every bad setting and why."""


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one clear SettingsError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad setting: 'NAME: why' (values of secrets are never echoed)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "Invalid settings:\n" + "\n".join(f"  - {line}" for line in lines)
