"""Every error the mock answers with, in the upstream shape: the one mapping from what went wrong to what
the client gets (`answer_for`), and how pydantic errors are translated.

422 bodies copy what the real service (FastAPI on pydantic v1) wrote:
`{"detail": [{"loc": ["body", "messages"], "msg": "field required", "type": "value_error.missing"}]}`.
Every other error is `{"detail": "<one sentence>"}`. See docs/errors.md.

Code anywhere below the door raises: an `ApiError` when it decides the answer itself (a 422, a 413), or
a `DomainError` of its own kind (an unknown experiment, a taken id, a world over its share), which says
which status it is. The door turns either into the answer with `answer_for`, in one place; no route
translates one error into another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from mockserver import jsonio


class ApiError(Exception):
    """An error answer: raise it anywhere in a route and the client gets `status` with `detail`."""

    def __init__(self, status: int, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class DomainError(Exception):
    """Something the mock's own world refuses (a project it does not know, an id already taken, a world over
    its share of memory): `status` is what HTTP says for it, `detail` what the client is told. Subclasses
    live where they are raised (`NotFound` in the state, `OverShare` in the budget, ...)."""

    status = 400

    def __init__(self, detail: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})

    @property
    def problems(self) -> list[str]:
        """What is wrong, one line each (for the fixture's errors)."""
        return [str(self.detail)]


UNEXPECTED = ApiError(500, "Internal error in humanloop-mock; please report it with the log.")


def answer_for(error: Exception) -> ApiError:
    """The error answer for what a request ran into: an `ApiError` as raised, a `DomainError` with its own
    status and detail, and anything else (a bug in the mock) a 500 that says so (its caller logs it)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, DomainError):
        return ApiError(error.status, error.detail, error.headers)
    return UNEXPECTED


def validation_failed(items: Sequence[Mapping[str, Any]]) -> ApiError:
    return ApiError(422, [dict(item) for item in items])


def error_item(loc: Sequence[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}


# pydantic v2 error type -> (pydantic v1 message, v1 type), as the real service wrote them.
_V1_ERRORS: dict[str, tuple[str, str]] = {
    "missing": ("field required", "value_error.missing"),
    "extra_forbidden": ("extra fields not permitted", "value_error.extra"),
    "int_type": ("value is not a valid integer", "type_error.integer"),
    "int_parsing": ("value is not a valid integer", "type_error.integer"),
    "int_from_float": ("value is not a valid integer", "type_error.integer"),
    "float_type": ("value is not a valid float", "type_error.float"),
    "float_parsing": ("value is not a valid float", "type_error.float"),
    "finite_number": ("value is not a valid float", "type_error.float"),
    "string_type": ("str type expected", "type_error.str"),
    "bool_type": ("value could not be parsed to a boolean", "type_error.bool"),
    "bool_parsing": ("value could not be parsed to a boolean", "type_error.bool"),
    "list_type": ("value is not a valid list", "type_error.list"),
    "dict_type": ("value is not a valid dict", "type_error.dict"),
    "model_type": ("value is not a valid dict", "type_error.dict"),
    "model_attributes_type": ("value is not a valid dict", "type_error.dict"),
    "union_tag_invalid": ("value is not a valid enumeration member", "type_error.enum"),
}


def _v1_message(error: Mapping[str, Any]) -> tuple[str, str]:
    kind = error["type"]
    if kind in _V1_ERRORS:
        return _V1_ERRORS[kind]
    ctx = error.get("ctx") or {}
    if kind == "literal_error":
        return f"unexpected value; permitted: {ctx.get('expected', '')}", "value_error.const"
    if kind == "greater_than_equal":
        return f"ensure this value is greater than or equal to {ctx.get('ge')}", "value_error.number.not_ge"
    if kind == "less_than_equal":
        return f"ensure this value is less than or equal to {ctx.get('le')}", "value_error.number.not_le"
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, "), "value_error"
    if kind == "greater_than":
        return f"ensure this value is greater than {ctx.get('gt')}", "value_error.number.not_gt"
    return str(error.get("msg", "invalid value")), f"value_error.{kind}"


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    """Drop pydantic v2's union-member markers (`str`, `list[...]`, `function-after[...]`) from a loc."""
    cleaned: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool", "list", "dict"}):
            continue
        cleaned.append(part)
    return cleaned


def from_pydantic(error: ValidationError, prefix: Sequence[str | int] = ("body",)) -> ApiError:
    """Translate a pydantic ValidationError into the upstream 422, deduplicating union noise."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in error.errors(include_url=False):
        msg, kind = _v1_message(raw)
        item = error_item([*prefix, *_clean_loc(raw["loc"])], msg, kind)
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            items.append(item)
    return validation_failed(items)


def error_body(detail: Any) -> bytes:
    """The JSON body of an error answer, in the upstream shape."""
    return jsonio.dumps({"detail": detail})
