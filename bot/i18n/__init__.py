"""What customers read, in English (the source text) and Kiswahili, from gettext catalogs.

Messages are marked in the code with ``N_("...")`` (a constant), ``_("...", name=value)`` (a
translator from :func:`translator`) or in templates with ``_("...")``; placeholders are
``{name}``, filled after translation. ``python -m bot.i18n`` extracts, updates and compiles the
catalogs under ``bot/i18n/locale`` (``make install`` compiles them).
"""

from __future__ import annotations

import gettext
import io
import logging
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from typing import Protocol

from babel.dates import format_datetime

from mpesa.amounts import format_kes
from mpesa.security import NAIROBI

log = logging.getLogger(__name__)

ENGLISH = "en"
KISWAHILI = "sw"
LANGUAGES = (ENGLISH, KISWAHILI)
LANGUAGE_NAMES = {ENGLISH: "English", KISWAHILI: "Kiswahili"}
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).parent / "locale"
PLACEHOLDER = re.compile(r"\{(\w*)\}")
# a customer reads dates as the shop writes them: 20 Nov 2026 14:31 (Kiswahili: 20 Nov 2026 14:31)
TIME_PATTERN = "d MMM y HH:mm"


class Translator(Protocol):
    """Translates one message into a language and fills its ``{placeholders}``."""

    language: str

    def __call__(self, message: str, /, **params: Any) -> str: ...


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translated where it is shown)."""
    return message


def normalize(code: str | None) -> str | None:
    """Our language for a tag like "sw", "sw-KE", "en_GB" or "SW"; None when we have none."""
    if not code:
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return base if base in LANGUAGES else None


def negotiate(accept_language: str | None, default: str = ENGLISH) -> str:
    """The best of our languages for an Accept-Language header (q-values respected)."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = normalize(tag)
        if language is not None and quality > 0:
            choices.append((-quality, index, language))
    return min(choices)[2] if choices else default


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English is the source text: no catalog)."""
    if language not in LANGUAGES or language == ENGLISH:
        return gettext.NullTranslations()
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    mo, po = folder / f"{DOMAIN}.mo", folder / f"{DOMAIN}.po"
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    # an install that skipped `make` (or a .po edited since): compile it here, in memory
    log.warning("i18n.catalog_not_compiled language=%s (run `make install`); compiling", language)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(language: str, message: str) -> str:
    """``message`` in ``language`` (itself when the catalog has no translation)."""
    if not message:
        return message
    found = translations(language).gettext(message)
    if found == message and message.endswith(".") and language != ENGLISH:
        # a sentence built from a shorter message ("<reason>.") reuses its translation
        shorter = translations(language).gettext(message[:-1])
        if shorter != message[:-1]:
            return shorter if shorter.endswith((".", "!", "?")) else shorter + "."
    return found


def translate(language: str, message: str, /, **params: Any) -> str:
    """``message`` in ``language`` with its ``{placeholders}`` filled from ``params``."""
    text = gettext_for(language, message)
    return text.format(**params) if params else text


class _Translator:
    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, message: str, /, **params: Any) -> str:
        return translate(self.language, message, **params)


def translator(language: str | None) -> Translator:
    """A ``_`` function for ``language`` (unknown languages read English)."""
    return _Translator(normalize(language) or ENGLISH)


def error_text(exc: Exception, language: str) -> str:
    """A service refusal in ``language``: its template translated, its parameters filled in."""
    template = getattr(exc, "template", None)
    params = getattr(exc, "params", None) or {}
    if not template:
        return gettext_for(language, str(exc))
    try:
        return translate(language, template, **params)
    except (KeyError, IndexError, ValueError):
        log.warning("i18n.bad_translation language=%s message=%r", language, template)
        return str(exc)


def kes(amount: int) -> str:
    """KES 1,500 (the same in both languages: that is how Kenyan shops write it)."""
    return format_kes(amount)


def when(moment: datetime | None, language: str) -> str:
    """A moment in Nairobi time as customers read it: 20 Nov 2026 14:31."""
    if moment is None:
        return "-"
    return format_datetime(moment, TIME_PATTERN, tzinfo=NAIROBI, locale=language)


def staff_when(moment: datetime | None) -> str:
    """A moment in Nairobi time as staff read it, chat and dashboard alike: 04 Dec 2026 14:31."""
    if moment is None:
        return "-"
    return moment.astimezone(NAIROBI).strftime("%d %b %Y %H:%M")


def placeholders(message: str) -> set[str]:
    """The ``{names}`` a message fills (what a translation must keep)."""
    return set(PLACEHOLDER.findall(message))
