"""The contract's operations as the checker sees them: which it may call, and how to validate answers."""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from pydantic import TypeAdapter, ValidationError

from contracts.errors import ErrorResponse, HTTPValidationError
from contracts.openapi import OPERATIONS, Operation

CHAT = "POST /chat-experiment"
REGISTER = "POST /model-configs"
LIST_EXPERIMENTS = "GET /projects/{project_id}/experiments"
CREATE_EXPERIMENT = "POST /projects/{project_id}/experiments"
UPDATE_EXPERIMENT = "PATCH /experiments/{experiment_id}"
DELETE_EXPERIMENT = "DELETE /experiments/{experiment_id}"
SAMPLE_CONFIG = "GET /experiments/{experiment_id}/model-config"
FEEDBACK = "POST /feedback"

# Statuses any route may answer that are not the deployment's fault: throttling and a busy upstream.
TRANSIENT = frozenset({429, 503})


def label(op: Operation) -> str:
    return f"{op.method.upper()} {op.path}"


def is_mock_only(op: Operation) -> bool:
    """Routes only the mock has (liveness, its documents, `/__admin`): never required of a target."""
    return op.tag == "Mock" or "healthz" in op.path or op.path.startswith("/__admin") or "openapi" in op.path


def is_write(op: Operation) -> bool:
    """Everything but chat-experiment and reads changes the target's data."""
    return op.method != "get" and label(op) != CHAT


def checked_operations(allow_writes: bool) -> list[Operation]:
    return [op for op in OPERATIONS if not is_mock_only(op) and (allow_writes or not is_write(op))]


def operation(name: str) -> Operation:
    return next(op for op in OPERATIONS if label(op) == name)


def find_operation(name: str) -> Operation | None:
    """The operation with this label, or None for anything the contract does not have."""
    return next((op for op in OPERATIONS if label(op) == name), None)


def path_segment(value: object) -> str:
    """A path parameter as one URL path segment: every reserved character percent-encoded, and `.`
    and `..` too (clients and curl would otherwise fold them into the path)."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text.strip(".") == "" else text


def path_for(name: str, **params: object) -> str:
    """The request path of an operation (below the base URL) with its parameters filled in, encoded."""
    path = name.split(" ", 1)[1]
    for key, value in params.items():
        path = path.replace("{" + key + "}", path_segment(value))
    return path


def _route_pattern(path: str) -> re.Pattern[str]:
    segments = ("[^/]+" if part.startswith("{") else re.escape(part) for part in path.split("/"))
    return re.compile("^" + "/".join(segments) + "$")


@cache
def _route_patterns() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    return tuple((op.method.upper(), label(op), _route_pattern(op.path)) for op in OPERATIONS if not is_mock_only(op))


def operation_for(method: str, path: str) -> str | None:
    """The contract's label for a request path below the base URL (`POST /chat-experiment`), or None."""
    bare = path.split("?", 1)[0]
    for verb, name, pattern in _route_patterns():
        if verb == method.upper() and (pattern.match(bare) or pattern.match(unquote(bare))):
            return name
    return None


def documented_statuses(op: Operation) -> frozenset[int]:
    statuses = {op.success_status, *op.errors}
    if op.secured or op.request is not None or op.path_params:
        statuses.add(422)
    return frozenset(statuses)


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def success_model(op: Operation) -> Any:
    if op.response is None:
        return None
    return list[op.response] if op.response_is_list else op.response  # type: ignore[name-defined]


def body_model(op: Operation, status: int) -> Any:
    if 200 <= status < 300:
        return success_model(op)
    return HTTPValidationError if status == 422 else ErrorResponse


_UNION_MARKERS = {"str", "int", "float", "bool", "list", "dict", "none", "literal"}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic location as people write it: `data[0].finish_reason`."""
    text = ""
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in _UNION_MARKERS):
            continue  # pydantic's names for union members, not fields
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(body)"


def schema_errors(model: Any, body: bytes) -> list[tuple[str, str]]:
    """(field, message) for each way `body` breaks `model`; empty when it conforms."""
    try:
        _adapter(model).validate_json(body, strict=True)
    except ValidationError as invalid:
        problems = []
        for error in invalid.errors(include_url=False):
            shown = error.get("input")
            detail = error["msg"] if error["type"] == "missing" else f"{error['msg']} (got {_short(shown)})"
            problems.append((field_path(error["loc"]), detail))
        return problems
    return []


def request_errors(model: Any, body: bytes | None) -> list[tuple[str, str]]:
    """How a request body breaks the contract's request model (empty: it is valid)."""
    if model is None:
        return []
    return schema_errors(model, body or b"")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
