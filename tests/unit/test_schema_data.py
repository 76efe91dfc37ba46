"""The tool-argument generator: every value it makes is valid against its schema, and repeatable."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest
from faker import Faker

from mockserver.pipeline.schema_data import generate_instance

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
     "required": ["location"]},
    {"type": "object", "required": ["n", "x", "m", "k"], "properties": {
        "n": {"type": "integer", "minimum": 3, "exclusiveMaximum": 7},
        "x": {"type": "number", "exclusiveMinimum": 0.5, "maximum": 0.6},
        "m": {"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 2},
        "k": {"type": "integer", "maximum": -10}}},
    {"type": "object", "required": ["tags", "when", "id", "e", "day", "site"], "properties": {
        "tags": {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 5},
                 "minItems": 2, "maxItems": 4, "uniqueItems": True},
        "when": {"type": "string", "format": "date-time"}, "id": {"type": "string", "format": "uuid"},
        "e": {"type": "string", "format": "email"}, "day": {"type": "string", "format": "date"},
        "site": {"type": "string", "format": "uri"}}},
    {"$defs": {"P": {"type": "object", "properties": {"a": {"type": ["integer", "null"]}}, "required": ["a"]}},
     "type": "object", "required": ["p", "o", "c"],
     "properties": {"p": {"$ref": "#/$defs/P"}, "o": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
                    "c": {"const": 3}}},
    {"type": "object", "required": ["lvl"], "properties": {"lvl": {"type": "object", "properties": {
        "deep": {"type": "array", "items": {"type": "object", "required": ["v"],
                                             "properties": {"v": {"type": "integer", "minimum": -5, "maximum": -1}}}}
    }}}},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
               {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
    {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["legacy"],
     "properties": {"legacy": {"type": "number", "minimum": 1, "maximum": 2, "exclusiveMinimum": True}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_values_are_valid(schema: dict[str, Any]) -> None:
    faker = Faker()
    validator = jsonschema.validators.validator_for(schema)  # honours "$schema" (draft 4 above)
    for seed in range(200):
        faker.seed_instance(seed)
        value = generate_instance(schema, random.Random(seed), faker)
        validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)


def test_same_seed_same_value_and_empty_schema() -> None:
    faker = Faker()
    faker.seed_instance(1)
    first = generate_instance(SCHEMAS[2], random.Random(1), faker)
    faker.seed_instance(1)
    assert generate_instance(SCHEMAS[2], random.Random(1), faker) == first
    assert generate_instance(None, random.Random(1), faker) == {}
