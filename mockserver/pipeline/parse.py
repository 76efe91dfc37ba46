"""Turn a request body into a validated wire model, or a 422 in the upstream shape."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mockserver import jsonio
from mockserver.errors import error_item, from_pydantic, validation_failed

Model = TypeVar("Model", bound=BaseModel)

@lru_cache(maxsize=256)  # clients send the same few values; this runs on every request
def is_json_content_type(content_type: str | None) -> bool:
    """No Content-Type is read as JSON (as FastAPI did); otherwise it must be JSON."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def check_content_type(content_type: str | None) -> None:
    if not is_json_content_type(content_type):
        raise validation_failed([error_item(
            ["body"], f"expected Content-Type: application/json, got {content_type!r}", "value_error.content_type"
        )])


def parse_json(body: bytes, content_type: str | None) -> Any:
    """The body as JSON, or a 422: wrong content type, empty body, or malformed JSON."""
    check_content_type(content_type)
    if not body.strip():
        raise validation_failed([error_item(["body"], "field required", "value_error.missing")])
    try:
        return jsonio.loads(body)
    except jsonio.JsonRejected as bad:
        raise validation_failed([error_item(["body", *bad.loc], bad.msg, bad.kind)]) from None
    except json.JSONDecodeError as bad:
        raise validation_failed([error_item(["body", bad.pos], bad.msg, "value_error.jsondecode")]) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as bad:
        message = str(bad)[:200]
        if "integer string conversion" in message:  # (Python's own advice names an interpreter setting)
            message = f"a number has more than {sys.get_int_max_str_digits()} digits"
        raise validation_failed([error_item(["body"], message, "value_error.jsondecode")]) from None


def validate(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        raise from_pydantic(invalid) from None


def parse_body(model: type[Model], body: bytes, content_type: str | None) -> Model:
    return validate(model, parse_json(body, content_type))
