"""Settings: one object, clear errors naming each bad setting, warnings on Daraja limits."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.config import SettingsError
from bot.config import load_settings


def test_defaults_are_sandbox_and_sqlite_under_data_dir():
    settings = Settings(_env_file=None)

    assert settings.daraja_base_url == "https://sandbox.safaricom.co.ke"
    assert settings.resolved_database_url == "sqlite://data/mpesa-bot.sqlite3"
    assert settings.mpesa_max_amount == 250_000
    assert settings.confirm_by_query is False
    assert settings.allowed_callback_networks == []


def test_production_defaults_confirm_by_query_and_restrict_callback_sources():
    settings = Settings(_env_file=None, mpesa_environment="production")

    assert settings.daraja_base_url == "https://api.safaricom.co.ke"
    assert settings.confirm_by_query is True
    assert "196.201.214.200/32" in settings.allowed_callback_networks


def test_comma_separated_lists_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", "111, 222")
    monkeypatch.setenv("MPESA_EXTRA_PREFIXES", "0733,254750")

    settings = Settings(_env_file=None)

    assert settings.admin_telegram_ids == [111, 222]
    assert settings.mpesa_extra_prefixes == ["0733", "254750"]


@pytest.mark.parametrize("name", ["PUBLIC_BASE_URL", "SITE_URL", "APP_URL"])
def test_public_base_url_accepts_the_seed_aliases(monkeypatch, name):
    monkeypatch.setenv(name, "https://pay.example.co.ke")

    assert Settings(_env_file=None).public_base_url == "https://pay.example.co.ke"


def test_every_bad_setting_is_named_in_one_message(monkeypatch):
    monkeypatch.setenv("WEB_PORT", "eighty")
    monkeypatch.setenv("MPESA_SHORTCODE", "12")
    monkeypatch.setenv("MPESA_ENVIRONMENT", "live")
    monkeypatch.setenv("CALLBACK_SECRET", "tiny-secret")

    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)

    message = str(caught.value)
    assert "WEB_PORT:" in message
    assert "MPESA_SHORTCODE: '12' is not a shortcode (5 to 7 digits)" in message
    assert "MPESA_ENVIRONMENT:" in message
    assert "CALLBACK_SECRET: must be at least 16 characters" in message
    assert "tiny-secret" not in message  # a secret is never echoed


@pytest.mark.parametrize(
    ("url", "environment", "problem"),
    [
        ("http://pay.example.co.ke", "sandbox", "plain http is allowed only for loopback"),
        ("http://pay.example.co.ke", "production", "production callbacks must use https"),
        ("https://example.co.ke/mpesa", "sandbox", "contains 'mpesa'"),
        ("https://safaricom-hooks.example.com", "sandbox", "contains 'safaricom'"),
        ("ftp://example.com", "sandbox", "is not an http(s) URL"),
    ],
)
def test_public_base_url_rules(url, environment, problem):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, public_base_url=url, mpesa_environment=environment)

    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:80"]
)
def test_plain_http_is_fine_for_loopback_in_sandbox(url):
    assert load_settings(_env_file=None, public_base_url=url).public_base_url == url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8443/telegram/hook", "http://localhost/telegram/x", "http://[::1]:80/t"],
)
def test_webhook_mode_takes_plain_http_on_loopback(url):
    assert load_settings(_env_file=None, telegram_webhook_url=url).telegram_webhook_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://pay.example.co.ke/telegram/hook", "plain http is allowed only for loopback"),
        ("http://10.0.0.5/telegram/hook", "plain http is allowed only for loopback"),
        ("ftp://127.0.0.1/hook", "is not an http(s) URL"),
        ("https:///hook", "is not an http(s) URL"),
    ],
)
def test_webhook_mode_needs_https_anywhere_else(url, problem):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, telegram_webhook_url=url)

    assert "TELEGRAM_WEBHOOK_URL" in str(caught.value)
    assert problem in str(caught.value)


def test_seed_values_over_daraja_limits_warn_without_blocking_or_truncating():
    settings = load_settings(
        _env_file=None,
        mpesa_account_reference="HouseholdPlanet",
        mpesa_transaction_desc="Household Planet Kenya Payment",
    )

    warnings = settings.warnings()

    assert settings.mpesa_account_reference == "HouseholdPlanet"
    assert settings.mpesa_transaction_desc == "Household Planet Kenya Payment"
    assert any("MPESA_ACCOUNT_REFERENCE" in w and "at most 12" in w for w in warnings)
    assert any("MPESA_TRANSACTION_DESC" in w and "at most 13" in w for w in warnings)


def test_defaults_are_within_daraja_limits_and_do_not_warn():
    settings = load_settings(_env_file=None)

    assert (settings.mpesa_account_reference, settings.mpesa_transaction_desc) == (
        "HPlanet",
        "Payment",
    )
    assert len(settings.mpesa_account_reference) <= 12
    assert len(settings.mpesa_transaction_desc) <= 13
    assert settings.warnings() == []


def test_till_needs_a_till_number():
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, mpesa_transaction_type="CustomerBuyGoodsOnline")

    assert "MPESA_TILL_NUMBER" in str(caught.value)


def test_callback_secret_is_generated_once_and_kept(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path)

    first = settings.resolved_callback_secret()
    again = Settings(_env_file=None, data_dir=tmp_path).resolved_callback_secret()

    assert first == again
    assert len(first) >= 16
    assert (tmp_path / "callback_secret").stat().st_mode & 0o777 == 0o600


def test_secrets_are_not_shown_in_repr():
    settings = Settings(_env_file=None, mpesa_consumer_secret="very-secret-value")

    assert "very-secret-value" not in repr(settings)


def test_env_example_documents_every_setting_and_loads():
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", text, re.MULTILINE))

    assert documented == {name.upper() for name in Settings.model_fields}
    example = Settings(_env_file=Path(__file__).parents[2] / ".env.example")
    assert example.mpesa_shortcode == "247247"
    assert example.mpesa_account_reference == "HPlanet"


def test_empty_values_mean_the_default(monkeypatch):
    monkeypatch.setenv("MPESA_CONFIRM_BY_QUERY", "")
    monkeypatch.setenv("WEB_PORT", "")

    settings = Settings(_env_file=None)

    assert (settings.mpesa_confirm_by_query, settings.web_port) == (None, 8080)


def test_a_callback_secret_with_a_word_safaricom_refuses_is_rejected():
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, callback_secret="my-sql-secret-123456")

    assert "CALLBACK_SECRET: contains 'sql'" in str(caught.value)


def test_the_configuration_page_documents_every_setting_and_the_readme_links_it():
    from pathlib import Path

    root = Path(__file__).parents[2]
    page = (root / "docs" / "configuration.md").read_text()
    readme = (root / "README.md").read_text()

    rows = {f"| `{name.upper()}` |": name.upper() for name in Settings.model_fields}
    missing = [name for row, name in rows.items() if row not in page]
    assert missing == []
    assert "(docs/configuration.md)" in readme


@pytest.mark.parametrize(
    ("values", "port"),
    [
        ({}, 587),
        ({"smtp_tls": True, "smtp_starttls": False}, 465),
        ({"smtp_tls": True}, 465),
        ({"smtp_starttls": False}, 25),
        ({"smtp_starttls": False, "smtp_port": 2525}, 2525),
    ],
)
def test_the_smtp_port_follows_the_tls_settings(values, port):
    assert Settings(_env_file=None, **values).resolved_smtp_port == port


def test_smtp_tls_and_starttls_both_on_is_refused():
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, smtp_tls=True, smtp_starttls=True)

    assert "SMTP_TLS and SMTP_STARTTLS: choose one" in str(caught.value)


def test_unencrypted_smtp_to_another_machine_is_warned_about():
    settings = Settings(
        _env_file=None, smtp_host="mail.example.co.ke", smtp_from="a@b.co", smtp_starttls=False
    )

    assert any("unencrypted" in note for note in settings.warnings())
    assert not Settings(
        _env_file=None, smtp_host="127.0.0.1", smtp_from="a@b.co", smtp_starttls=False
    ).warnings()
