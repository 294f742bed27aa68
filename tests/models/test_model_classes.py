"""Model classes stay cheap to import."""

from __future__ import annotations

from tortoise.models import Model

import models


def all_models(base: type[Model] = Model) -> list[type[Model]]:
    """Every model class (abstract ones too) defined in the models package."""
    found = []
    for cls in base.__subclasses__():
        if cls.__module__.startswith(f"{models.__name__}."):
            found.append(cls)
        found += all_models(cls)
    return found


def test_every_model_skips_tortoises_source_parsing() -> None:
    """Without _no_comments Tortoise parses the model's source file at import (slow start-up)."""
    missing = sorted(
        f"{cls.__module__}.{cls.__name__}"
        for cls in all_models()
        if not cls.__dict__.get("_no_comments")
    )

    assert missing == [], "add `_no_comments = True` to each (see models/tables.py)"
    assert len(all_models()) > 10  # the walk really reaches the models
