"""What every callback parser shares: decoding, loose lookups, items by name, clear errors."""

from __future__ import annotations

import codecs
import json
import re
from collections import deque
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

from pydantic import ValidationError

from mpesa.errors import CallbackParseError
from mpesa.models.callbacks import ITEM_NAME_KEYS
from mpesa.models.callbacks import ITEM_VALUE_KEY
from mpesa.models.callbacks import RESULT_ENVELOPE
from mpesa.models.callbacks import RESULT_ITEMS
from mpesa.models.callbacks import STK_ENVELOPE
from mpesa.models.callbacks import STK_ITEMS
from mpesa.models.callbacks import TIMEOUT_ID_KEYS
from mpesa.models.callbacks import Incoming
from mpesa.models.values import compact_key
from mpesa.models.values import loose_key
from mpesa.models.values import scalar_text

Body = bytes | str | Mapping[str, Any]
M = TypeVar("M", bound=Incoming)

_PHONE_PART = re.compile(r"\+?[0-9*][0-9* ]*")
_PARTY = re.compile(r"(?P<phone>\+?[0-9*][0-9* ]*?)\s*-\s*(?P<name>.*)")
_SEARCH_LIMIT = 10_000  # nodes visited when hunting ids in an arbitrary time-out body


class Items:
    """Name/Value (STK) or Key/Value (Result) items, looked up by normalised name, first wins."""

    def __init__(self, container: object, list_key: str) -> None:
        self._pairs: list[tuple[str, object]] = []
        for item in _as_items(container, list_key):
            name = _item_name(item)
            if isinstance(name, str) and name.strip():
                self._pairs.append((name, lookup(item, ITEM_VALUE_KEY)))

    def get(self, name: str) -> object:
        """The value of the first item with this name; None when absent or without Value."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[object]:
        """Every value of items with this name, in order."""
        wanted = loose_key(name)
        return [value for key, value in self._pairs if loose_key(key) == wanted]

    def first(self) -> dict[str, object]:
        """Every item as {name as sent: value}, only the first of names that differ by case."""
        result: dict[str, object] = {}
        seen: set[str] = set()
        for key, value in self._pairs:
            loose = loose_key(key)
            if loose not in seen:
                seen.add(loose)
                result[key] = value
        return result

    def as_dict(self) -> dict[str, object]:
        """Every item as {key without spaces: value}, first occurrence wins."""
        result: dict[str, object] = {}
        for key, value in self._pairs:
            result.setdefault(compact_key(key), value)
        return result


def _item_name(item: Mapping[str, Any]) -> object:
    """An item's Name (STK) or Key (results): the first of them it has."""
    for key in ITEM_NAME_KEYS:
        name = lookup(item, key)
        if name is not None:
            return name
    return None


def _as_items(container: object, list_key: str) -> Iterator[Mapping[str, Any]]:
    """Yield item objects from {list_key: [..]}, {list_key: {..}} or a bare list of items."""
    if isinstance(container, Mapping):
        inner = lookup(container, list_key)
        if inner is None and any(lookup(container, key) for key in ITEM_NAME_KEYS):
            inner = container  # the item itself where its wrapper was expected
        container = inner
    if isinstance(container, Mapping):
        yield container
    elif isinstance(container, list):
        yield from (item for item in container if isinstance(item, Mapping))


def lookup(mapping: Mapping[str, Any], name: str) -> Any:
    """mapping[name], or the value of a key equal to it up to spaces and case; None if absent."""
    if name in mapping:
        return mapping[name]
    wanted = loose_key(name)
    for key, value in mapping.items():
        if isinstance(key, str) and loose_key(key) == wanted:
            return value
    return None


def _object(value: object, missing: str) -> dict[str, Any]:
    """The value as a dict, or a CallbackParseError saying what is missing."""
    if not isinstance(value, Mapping):
        raise CallbackParseError(missing)
    return dict(value)


def load(body: Body) -> dict[str, Any]:
    """Decode a callback body into a dict; anything but a JSON object is a CallbackParseError."""
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        try:
            # what "utf-8-sig" does (one leading BOM dropped), without its Python-level codec
            text = raw[3:].decode() if raw.startswith(codecs.BOM_UTF8) else raw.decode()
        except UnicodeDecodeError as exc:
            raise CallbackParseError("not JSON: the body is not UTF-8 text") from exc
    elif isinstance(body, str):
        text = body
    else:
        raise CallbackParseError(f"not JSON: cannot read a {type(body).__name__}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CallbackParseError(f"not JSON ({str(exc)[:80]})") from exc
    if not isinstance(data, Mapping):
        raise CallbackParseError(f"not a JSON object: the body is {_json_kind(data)}")
    return data


def _json_kind(value: object) -> str:
    """Name a decoded JSON value's kind for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def stk_parts(body: Body) -> tuple[dict[str, Any], Items]:
    """The ``Body.stkCallback`` object of an STK callback and its CallbackMetadata items."""
    outer_key, inner_key = STK_ENVELOPE
    outer = _object(lookup(load(body), outer_key), f"no {outer_key}")
    stk = _object(lookup(outer, inner_key), f"no {outer_key}.{inner_key}")
    container_key, list_key = STK_ITEMS
    return stk, Items(lookup(stk, container_key), list_key)


STK_WHERE = ".".join(STK_ENVELOPE)


def result_parts(body: Body) -> tuple[dict[str, Any], Items]:
    """The Result envelope of a Result-style callback and its ResultParameters."""
    result = _object(lookup(load(body), RESULT_ENVELOPE), f"no {RESULT_ENVELOPE}")
    container_key, list_key = RESULT_ITEMS
    items = Items(lookup(result, container_key), list_key)
    # parameters are ours to fill; an envelope key of that name must not shadow them
    result.pop("parameters", None)
    return result, items


def build(model: type[M], data: Mapping[str, Any], where: str) -> M:
    """Validate data into a model, turning pydantic's errors into one CallbackParseError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CallbackParseError(_explain(exc, where)) from exc


def _explain(exc: ValidationError, where: str) -> str:
    """Name each failing field: "no Result.ResultCode", "TransAmount: '1.5' is not a whole ..."."""
    prefix = f"{where}." if where else ""
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            problems.append(f"no {prefix}{field}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{prefix}{field}: {message}")
    return "; ".join(problems)


def details(model: type[M], items: Items) -> dict[str, Any]:
    """Read items into ``model`` (its aliases are Daraja's item names), as plain field values."""
    # an item error names only the item ("Amount: 1.5 is not a whole number of shillings")
    return build(model, items.first(), "").model_dump()


def split_party(value: object) -> tuple[str | None, str | None]:
    """Split "254708374149 - John Doe" into (msisdn, name); either part may be missing."""
    text = scalar_text(value)
    if text is None:
        return None, None
    party = _PARTY.fullmatch(text)
    if party is not None:
        return "".join(party["phone"].split()), party["name"].strip() or None
    if _PHONE_PART.fullmatch(text):
        return "".join(text.split()), None
    return None, text


def find_ids(root: Mapping[str, Any]) -> dict[str, str]:
    """Breadth-first search for conversation ids in any JSON, as keys or as Key/Value items."""
    targets = {loose_key(key): field for key, field in TIMEOUT_ID_KEYS.items()}
    wanted = len(set(targets.values()))
    found: dict[str, str] = {}
    queue: deque[object] = deque([root])
    visited = 0
    while queue and len(found) < wanted and visited < _SEARCH_LIMIT:
        node = queue.popleft()
        visited += 1
        if isinstance(node, Mapping):
            for key, value in _candidates(node):
                target = targets.get(loose_key(key))
                text = scalar_text(value)
                if target and text and target not in found:
                    found[target] = text
            queue.extend(v for v in node.values() if isinstance(v, Mapping | list))
        elif isinstance(node, list):
            queue.extend(v for v in node if isinstance(v, Mapping | list))
    return found


def _candidates(node: Mapping[str, Any]) -> Iterable[tuple[str, object]]:
    """A mapping's own string keys, plus its Key/Value pair if it is an item."""
    pairs = [(key, value) for key, value in node.items() if isinstance(key, str)]
    name = next((n for n in (lookup(node, key) for key in ITEM_NAME_KEYS) if n), None)
    if isinstance(name, str):
        pairs.append((name, lookup(node, ITEM_VALUE_KEY)))
    return pairs
