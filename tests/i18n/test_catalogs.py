"""The customer catalogs: complete, placeholder-true, up to date with the sources, compiled."""

from __future__ import annotations

import gettext

import pytest

from bot.i18n import KISWAHILI
from bot.i18n import error_text
from bot.i18n import gettext_for
from bot.i18n import negotiate
from bot.i18n import normalize
from bot.i18n import placeholders
from bot.i18n import translate
from bot.i18n import when
from bot.i18n.catalogs import POT
from bot.i18n.catalogs import extract
from bot.i18n.catalogs import mo_path
from bot.i18n.catalogs import po_path
from bot.i18n.catalogs import read_catalog
from bot.services.errors import InvalidInput
from mpesa.phone import PhoneError
from mpesa.phone import normalize_msisdn


def messages(catalog) -> dict[str, str]:
    return {m.id: m.string for m in catalog if m.id}


def test_the_committed_template_lists_exactly_the_messages_in_the_sources():
    fresh = set(messages(extract()))
    committed = set(messages(read_catalog(POT)))

    assert fresh - committed == set(), "new messages: run `make messages` and translate them"
    assert committed - fresh == set(), "messages no longer used: run `make messages`"


def test_every_customer_message_has_a_kiswahili_translation_with_the_same_placeholders():
    template = messages(read_catalog(POT))
    swahili = messages(read_catalog(po_path(KISWAHILI), KISWAHILI))

    untranslated = [msgid for msgid in template if not swahili.get(msgid)]
    assert untranslated == []
    wrong = {
        msgid: (placeholders(msgid), placeholders(swahili[msgid]))
        for msgid in template
        if placeholders(msgid) != placeholders(swahili[msgid])
    }
    assert wrong == {}
    # a translation is a translation: never the English left in place
    same = [m for m in template if swahili[m] == m and placeholders(m) != {m.strip("{}")}]
    assert same == []


def test_no_catalog_entry_is_fuzzy():
    catalog = read_catalog(po_path(KISWAHILI), KISWAHILI)
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


def test_the_compiled_catalog_is_the_committed_one():
    # `make install` / `make test` compile it; the service reads the .mo
    path = mo_path(KISWAHILI)
    assert path.is_file(), "run `make install` to compile the catalogs"
    with path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    swahili = messages(read_catalog(po_path(KISWAHILI), KISWAHILI))
    assert {msgid: compiled.gettext(msgid) for msgid in swahili} == swahili


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sw-KE,sw;q=0.9,en;q=0.8", "sw"),
        ("en-GB,en;q=0.9,sw;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,sw;q=0.5", "sw"),
        ("fr-FR", "en"),
        ("en;q=0.2, sw;q=0.7", "sw"),
        ("sw;q=0", "en"),
        ("", "en"),
        ("*", "en"),
        ("sw;q=abc, en", "en"),
    ],
)
def test_accept_language_picks_the_best_of_our_languages(header, expected):
    assert negotiate(header) == expected


@pytest.mark.parametrize(
    ("code", "expected"), [("sw", "sw"), ("SW-ke", "sw"), ("en_US", "en"), ("de", None), ("", None)]
)
def test_telegram_language_codes_map_to_ours(code, expected):
    assert normalize(code) == expected


def test_a_phone_refusal_is_translated_with_its_number_filled_in():
    with pytest.raises(PhoneError) as caught:
        normalize_msisdn("0733 123 456")
    exc = caught.value
    service_error = InvalidInput(exc.template + ".", params=exc.params)

    assert str(service_error) == "0733 123 456 is an Airtel number; M-Pesa needs Safaricom."
    assert error_text(service_error, "sw") == (
        "0733 123 456 ni namba ya Airtel; M-Pesa inahitaji namba ya Safaricom."
    )
    assert error_text(service_error, "en") == str(service_error)


def test_untranslated_text_stays_as_it_is():
    assert gettext_for("sw", "Something only staff read") == "Something only staff read"
    assert translate("sw", "Amount: {amount}", amount="KES 1,500") == "Kiasi: KES 1,500"


def test_nairobi_time_in_both_languages():
    from datetime import UTC
    from datetime import datetime

    moment = datetime(2026, 8, 20, 11, 31, tzinfo=UTC)
    assert when(moment, "en") == "20 Aug 2026 14:31"
    assert when(moment, "sw") == "20 Ago 2026 14:31"
