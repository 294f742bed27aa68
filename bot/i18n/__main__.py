"""`python -m bot.i18n update|compile`: refresh the catalogs from the sources, or compile them."""

from __future__ import annotations

import sys

from bot.i18n.catalogs import compile_catalogs
from bot.i18n.catalogs import update

USAGE = "usage: python -m bot.i18n update|compile"


def main(argv: list[str]) -> int:
    """Run one catalog step; print what it did."""
    if argv == ["update"]:
        missing = update()
        for line in missing:
            print(f"untranslated {line}")
        print(f"catalogs updated; {len(missing)} message(s) still need a translation")
        return 0
    if argv == ["compile"]:
        for path in compile_catalogs():
            print(f"compiled {path}")
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
