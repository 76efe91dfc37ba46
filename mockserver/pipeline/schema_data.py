"""Generate a JSON value valid against a tool's `parameters` schema, from a seeded RNG and Faker.

Why not a library: jsf draws from the global `random` module and the wall clock, and
hypothesis-jsonschema needs Hypothesis' engine (which cannot run inside a user's own `@given`
test). Both break determinism or the plugin, so this covers the JSON Schema that tool definitions
use: type, enum, const, properties/required, items, anyOf/oneOf/allOf, local $ref, numeric and
length bounds and common string formats. `pattern` is not honoured (documented in docs/behaviour.md).
"""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

from faker import Faker

MAX_DEPTH = 6
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


class _Generator:
    def __init__(self, root: dict[str, Any], rng: random.Random, faker: Faker) -> None:
        self.root = root
        self.rng = rng
        self.faker = faker

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            target: Any = self.root
            if not ref.startswith("#"):
                return {}
            for part in ref.lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) and part else target
            schema = target
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def value(self, schema: Any, depth: int = 0, name: str = "") -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(schema["enum"])
        if schema.get("examples") and isinstance(schema["examples"], list):
            return self.rng.choice(schema["examples"])
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                for key, val in part.items():
                    if key == "properties":
                        merged.setdefault("properties", {}).update(val)
                    elif key == "required":
                        merged["required"] = [*merged.get("required", []), *val]
                    else:
                        merged.setdefault(key, val)
            return self.value(merged, depth, name)
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self.resolve(o) for o in schema[key]]
                non_null = [o for o in options if o.get("type") != "null"] or options
                return self.value(self.rng.choice(non_null), depth, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            kind = self.rng.choice(kinds) if kinds else None
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, f"_{kind}", self._string)(schema, depth, name)

    def _object(self, schema: dict[str, Any], depth: int, name: str) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            if key in required or (depth < MAX_DEPTH and self.rng.random() < 0.5):
                result[key] = self.value(sub, depth + 1, key)
        for key in required - set(result):
            result[key] = self.value({}, depth + 1, key)
        return result

    def _array(self, schema: dict[str, Any], depth: int, name: str) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, 3)))
        if depth >= MAX_DEPTH:
            high = low
        items = schema.get("items", {})
        count = self.rng.randint(low, max(low, high))
        values: list[Any] = []
        attempts = 0
        while len(values) < count and attempts < count * 10 + 10:
            attempts += 1
            item = self.value(items, depth + 1, name)
            if schema.get("uniqueItems") and item in values:
                continue
            values.append(item)
        return values

    def _string(self, schema: dict[str, Any], depth: int, name: str) -> str:
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt](self.faker, self.rng)
        hint = _NAME_HINTS.get(name.lower())
        text = str(getattr(self.faker, hint)()) if hint else " ".join(self.faker.words(self.rng.randint(1, 3)))
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        while len(text) < low:
            text += self.faker.word()
        if high is not None:
            text = text[: int(high)]
        return text

    def _bounds(self, schema: dict[str, Any], integer: bool) -> tuple[float, float]:
        """Inclusive bounds, from draft-4 (boolean) or 2020-12 (numeric) exclusive keywords alike."""
        low, high = schema.get("minimum"), schema.get("maximum")
        ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(ex_low, bool):
            ex_low = low if ex_low else None
        if isinstance(ex_high, bool):
            ex_high = high if ex_high else None
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
        if "multipleOf" in schema:
            return self._step_value(schema, low, high, schema["multipleOf"])
        value = round(self.rng.uniform(low, high), 2)
        return value if low <= value <= high else (low + high) / 2

    def _step_value(self, schema: dict[str, Any], low: float, high: float, default_step: float) -> float | int:
        step = schema.get("multipleOf", default_step) or default_step
        first, last = math.ceil(low / step), math.floor(high / step)
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
