"""The tool-argument generator: every value it makes is valid against its schema, and repeatable."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from faker import Faker

from mockserver.pipeline.schema_data import MAX_ITEMS, MAX_LENGTH, generate_instance

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


# Tool schemas come from clients (`POST /v4/model-configs`, specs): keywords of the wrong type, sizes
# no answer could hold, schemas that require themselves. Each once gave a 500 or held the server.
HOSTILE_SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": 5},
    {"type": "object", "properties": "{{x}}", "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": True},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": [None, 3, [], {}]},
    {"type": "object", "properties": {"e": {"enum": 1.5}}, "required": ["e"]},
    {"type": "object", "properties": {"a": {"type": "array", "minItems": "x", "maxItems": []}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"$ref": 5}}, "required": ["a"]},
    {"$ref": "#", "type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "object", "required": ["a"],
                                                               "properties": {"a": {"$ref": "#"}}}}},
    {"allOf": [5, {"properties": 3, "required": "a"}, {"$ref": "#"}]},
    {"anyOf": [5, "x"], "oneOf": "y"},
    {"type": "object", "properties": {"a": {"type": "string", "format": [], "minLength": {}}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "__init__"}, "b": {"type": "bounds"}, "c": {"type": {"x": 1}}},
     "required": ["a", "b", "c"]},
    {"type": "object", "properties": {"a": {"type": "number", "minimum": "0", "exclusiveMaximum": [],
                                            "multipleOf": 0}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 1e300, "multipleOf": 1e-300}},
     "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "string", "minLength": 10**9}}, "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "array", "minItems": 10**9}}, "required": ["a"]},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "array", "minItems": 60, "items": {
        "type": "array", "minItems": 60, "items": {"type": "array", "minItems": 60}}}}},
]


@pytest.mark.parametrize("schema", HOSTILE_SCHEMAS)
def test_hostile_schemas_give_a_bounded_value(schema: dict[str, Any]) -> None:
    faker = Faker()
    faker.seed_instance(3)
    value = generate_instance(schema, random.Random(3), faker)
    text = json.dumps(value)  # a JSON value, whatever the schema said
    assert len(text) < 300_000, len(text)
    faker.seed_instance(3)
    assert generate_instance(schema, random.Random(3), faker) == value


def test_huge_minimums_are_capped_and_honoured_up_to_the_cap() -> None:
    faker = Faker()
    value = generate_instance({"type": "object", "required": ["s", "l"], "properties": {
        "s": {"type": "string", "minLength": 10**9}, "l": {"type": "array", "minItems": 10**9}}},
        random.Random(1), faker)
    assert len(value["s"]) == MAX_LENGTH
    assert len(value["l"]) == MAX_ITEMS


def test_required_keys_without_properties_come_in_their_listed_order_whatever_the_hash_seed() -> None:
    program = ("import random, json; from faker import Faker; "
               "from mockserver.pipeline.schema_data import generate_instance; f = Faker(); f.seed_instance(1); "
               "print(json.dumps(generate_instance({'type': 'object', 'required': "
               "['alpha', 'beta', 'gamma', 'delta', 'epsilon']}, random.Random(1), f)))")
    outputs = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(hash_seed)}).stdout
               for hash_seed in (1, 2, 3, 4)}
    assert len(outputs) == 1, outputs
    assert list(json.loads(outputs.pop())) == ["alpha", "beta", "gamma", "delta", "epsilon"]
