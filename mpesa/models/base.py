"""What Daraja's answer and callback models share: their aliases are Daraja's field names."""

from __future__ import annotations

from pydantic import BaseModel


class DarajaNamed(BaseModel):
    """Base of the models whose field aliases are Daraja's names, with a lookup of them."""

    @classmethod
    def alias_of(cls, field_name: str) -> str:
        """Daraja's name for one of this model's fields."""
        alias = cls.model_fields[field_name].alias
        if alias is None:
            raise KeyError(f"{cls.__name__}.{field_name} has no Daraja name")
        return alias
