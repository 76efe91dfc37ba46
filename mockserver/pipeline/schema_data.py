"""Generate a JSON value valid against a tool's `parameters` schema, from a seeded RNG and Faker.

Why not a library: jsf draws from the global `random` module and the wall clock, and
hypothesis-jsonschema needs Hypothesis' engine (which cannot run inside a user's own `@given`
test). Both break determinism or the plugin, so this covers the JSON Schema that tool definitions
use: type, enum, const, properties/required, items, anyOf/oneOf/allOf, local $ref, numeric and
length bounds and common string formats. `pattern` is not honoured (documented in docs/behaviour.md).

A tool's schema comes from a client (`POST /v4/model-configs`, a spec), so it is read defensively: a
keyword of the wrong type is ignored, sizes are capped and one instance holds a bounded number of
values, so no schema can make a chat call fail or hold the server (`minItems: 1e9`, a `$ref` that
requires itself).
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

from faker import Faker

MAX_DEPTH = 6
# Past MAX_DEPTH only required properties and minimum items are made; a schema requiring itself
# would recurse for ever, so past this depth a value is null.
HARD_DEPTH = 24
MAX_ITEMS = 64  # items of one array, whatever minItems asks
MAX_LENGTH = 4096  # characters of one string, whatever minLength asks
MAX_VALUES = 1000  # values in one instance; past it a value is null
_NAME_HINTS = {
    "location": "city",
    "city": "city",
    "country": "country",
    "name": "name",
    "email": "email",
    "address": "address",
    "company": "company",
    "url": "url",
    "phone": "phone_number",
}
_FORMATS = {
    "email": lambda f, r: f.email(),
    "uri": lambda f, r: f.url(),
    "url": lambda f, r: f.url(),
    "hostname": lambda f, r: f.hostname(),
    "ipv4": lambda f, r: f.ipv4(),
    "ipv6": lambda f, r: f.ipv6(),
    "uuid": lambda f, r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "date": lambda f, r: f"{r.randint(2000, 2030):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "date-time": lambda f, r: (
        f"{r.randint(2000, 2030):04d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
    ),
    "time": lambda f, r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
}


def _finite(value: Any) -> float | None:
    """A schema keyword's number, or None for anything else (a string, a boolean, a list)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _count(schema: dict[str, Any], key: str, default: int, cap: int) -> int:
    value = _finite(schema.get(key))
    return default if value is None else int(min(max(value, 0), cap))


def _listed(schema: dict[str, Any], key: str) -> list[Any]:
    value = schema.get(key)
    return value if isinstance(value, list) else []


def _mapping(schema: dict[str, Any], key: str) -> dict[str, Any]:
    value = schema.get(key)
    return value if isinstance(value, dict) else {}


class _Generator:
    def __init__(self, root: dict[str, Any], rng: random.Random, faker: Faker) -> None:
        self.root = root
        self.rng = rng
        self.faker = faker
        self.values_left = MAX_VALUES
        self.kinds = {"object": self._object, "array": self._array, "string": self._string,
                      "integer": self._integer, "number": self._number, "boolean": self._boolean,
                      "null": self._null}

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            target: Any = self.root
            if not isinstance(ref, str) or not ref.startswith("#"):
                return {}
            for part in ref.lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) and part else target
            schema = target
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def value(self, schema: Any, depth: int = 0, name: str = "") -> Any:
        if depth > HARD_DEPTH or self.values_left <= 0:
            return None
        self.values_left -= 1
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if _listed(schema, "enum"):
            return self.rng.choice(schema["enum"])
        if _listed(schema, "examples"):
            return self.rng.choice(schema["examples"])
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in _listed(schema, "allOf"):
                part = self.resolve(part)
                for key, val in part.items():
                    if key == "properties":
                        merged["properties"] = {**_mapping(merged, "properties"), **_mapping(part, key)}
                    elif key == "required":
                        merged["required"] = [*_listed(merged, "required"), *_listed(part, key)]
                    else:
                        merged.setdefault(key, val)
            return self.value(merged, depth + 1, name)  # deeper: a part may name the schema itself
        for key in ("anyOf", "oneOf"):
            if _listed(schema, key):
                options = [self.resolve(o) for o in schema[key]]
                non_null = [o for o in options if o.get("type") != "null"] or options
                return self.value(self.rng.choice(non_null), depth, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            kind = self.rng.choice(kinds) if kinds else None
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        make = self.kinds.get(kind, self._string) if isinstance(kind, str) else self._string
        return make(schema, depth, name)

    def _object(self, schema: dict[str, Any], depth: int, name: str) -> dict[str, Any]:
        properties = _mapping(schema, "properties")
        # A list, not a set: a set of strings iterates in an order PYTHONHASHSEED decides.
        required = [key for key in _listed(schema, "required") if isinstance(key, str)]
        must = set(required)
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            if key in must or (depth < MAX_DEPTH and self.rng.random() < 0.5):
                result[key] = self.value(sub, depth + 1, key)
        for key in required:
            if key not in result:
                result[key] = self.value({}, depth + 1, key)
        return result

    def _array(self, schema: dict[str, Any], depth: int, name: str) -> list[Any]:
        low = _count(schema, "minItems", 0, MAX_ITEMS)
        high = _count(schema, "maxItems", max(low, 3), MAX_ITEMS)
        if depth >= MAX_DEPTH:
            high = low
        items = schema.get("items", {})
        count = self.rng.randint(low, max(low, high))
        values: list[Any] = []
        attempts = 0
        while len(values) < count and attempts < count * 10 + 10 and self.values_left > 0:
            attempts += 1
            item = self.value(items, depth + 1, name)
            if schema.get("uniqueItems") and item in values:
                continue
            values.append(item)
        return values

    def _string(self, schema: dict[str, Any], depth: int, name: str) -> str:
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS:
            return _FORMATS[fmt](self.faker, self.rng)
        hint = _NAME_HINTS.get(name.lower())
        text = str(getattr(self.faker, hint)()) if hint else " ".join(self.faker.words(self.rng.randint(1, 3)))
        low = _count(schema, "minLength", 0, MAX_LENGTH)
        while len(text) < min(low, 64):
            text += self.faker.word()
        if len(text) < low:  # a long minimum repeats the words rather than drawing each
            text = (text * (low // len(text) + 1))[:low]
        high = _count(schema, "maxLength", -1, MAX_LENGTH)
        return text if high < 0 else text[:high]

    def _bounds(self, schema: dict[str, Any], integer: bool) -> tuple[float, float]:
        """Inclusive bounds, from draft-4 (boolean) or 2020-12 (numeric) exclusive keywords alike."""
        low, high = _finite(schema.get("minimum")), _finite(schema.get("maximum"))
        ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        ex_low = (low if ex_low else None) if isinstance(ex_low, bool) else _finite(ex_low)
        ex_high = (high if ex_high else None) if isinstance(ex_high, bool) else _finite(ex_high)
        if ex_low is not None:
            inner = math.floor(ex_low) + 1 if integer else ex_low + 1e-6
            low = inner if low is None else max(low, inner)
        if ex_high is not None:
            inner = math.ceil(ex_high) - 1 if integer else ex_high - 1e-6
            high = inner if high is None else min(high, inner)
        if low is None and high is None:
            low, high = 0, 100
        elif low is None:
            low = high - 100
        elif high is None:
            high = low + 100
        return float(low), float(high)

    def _integer(self, schema: dict[str, Any], depth: int, name: str) -> int:
        low, high = self._bounds(schema, integer=True)
        return int(self._step_value(schema, math.ceil(low), math.floor(high), 1))

    def _number(self, schema: dict[str, Any], depth: int, name: str) -> float | int:
        low, high = self._bounds(schema, integer=False)
        if _finite(schema.get("multipleOf")):
            return self._step_value(schema, low, high, 1)
        value = round(self.rng.uniform(low, high), 2)
        return value if low <= value <= high else (low + high) / 2

    def _step_value(self, schema: dict[str, Any], low: float, high: float, default_step: float) -> float | int:
        step = abs(_finite(schema.get("multipleOf")) or default_step)
        first, last = low / step, high / step
        if not (math.isfinite(first) and math.isfinite(last)):
            return low
        first, last = math.ceil(first), math.floor(last)
        return step * self.rng.randint(first, max(first, last))

    def _boolean(self, schema: dict[str, Any], depth: int, name: str) -> bool:
        return self.rng.random() < 0.5

    def _null(self, schema: dict[str, Any], depth: int, name: str) -> None:
        return None


def generate_instance(schema: dict[str, Any] | None, rng: random.Random, faker: Faker) -> Any:
    """A value valid against `schema` (an empty or missing schema gives `{}`)."""
    if not schema:
        return {}
    return _Generator(schema, rng, faker).value(schema)
