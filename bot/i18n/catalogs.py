"""Babel's extract, update and compile steps for the customer catalogs (``python -m bot.i18n``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.messages.pofile import write_po

from bot.i18n import DOMAIN
from bot.i18n import ENGLISH
from bot.i18n import LANGUAGES
from bot.i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
POT = LOCALE_DIR / f"{DOMAIN}.pot"
# N_("…") marks constants, _("…") translates where shown; PhoneError("…") is mpesa/'s own
# message (mpesa/ imports nothing from bot/, so its messages are found by the class name)
KEYWORDS = {"N_": None, "_": None, "translate": (2,), "PhoneError": None}
PYTHON_SOURCES = ("bot/**/*.py", "mpesa/phone.py")
TEMPLATE_SOURCES = ("bot/**/templates/**/*.html", "bot/**/templates/**/*.txt")
TRANSLATED = tuple(language for language in LANGUAGES if language != ENGLISH)


def source_files() -> Iterator[tuple[str, Path]]:
    """(extraction method, file) for every file that may hold customer messages."""
    for pattern in PYTHON_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            if "locale" not in path.parts:
                yield "python", path
    for pattern in TEMPLATE_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            yield "jinja2.ext:babel_extract", path


def extract() -> Catalog:
    """A fresh template catalog of every marked message in the sources."""
    catalog = Catalog(project="mpesa-bot", domain=DOMAIN, charset="utf-8", fuzzy=False)
    for method, path in source_files():
        options = {"extensions": ""} if method.startswith("jinja2") else {}
        for line, message, comments, _context in extract_from_file(
            method, path, keywords=KEYWORDS, options=options, strip_comment_tags=True
        ):
            if isinstance(message, tuple):
                message = message[0]
            if not message:
                continue
            location = (path.relative_to(ROOT).as_posix(), line)
            catalog.add(message, locations=[location], auto_comments=comments)
    return catalog


def po_path(language: str) -> Path:
    """Where the catalog of ``language`` lives (committed)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    """Where the compiled catalog of ``language`` goes (built, not committed)."""
    return po_path(language).with_suffix(".mo")


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    """A .po or .pot file as a Babel catalog."""
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def _write(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def update() -> list[str]:
    """Extract into the .pot and merge it into each language's .po; return new messages."""
    template = extract()
    _write(POT, template)
    missing: list[str] = []
    for language in TRANSLATED:
        path = po_path(language)
        catalog = (
            read_catalog(path, language)
            if path.is_file()
            else Catalog(locale=language, domain=DOMAIN)
        )
        catalog.update(template, no_fuzzy_matching=True)
        _write(path, catalog)
        missing += [f"{language}: {m.id}" for m in catalog if m.id and not m.string]
    return missing


def compile_catalogs() -> list[Path]:
    """Compile each .po into its .mo (what the running service reads)."""
    written = []
    for language in TRANSLATED:
        catalog = read_catalog(po_path(language), language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        target = mo_path(language)
        target.write_bytes(buffer.getvalue())
        written.append(target)
    return written
