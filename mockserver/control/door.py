"""The `/__admin` routes, made from the table of operations (`operations`): each a thin HTTP door onto
`MockControl` for the caller's tenant; plus the journal page and the admin OpenAPI document.

A row's path parameters, JSON body and query become the method's arguments; what it returns is the
answer (JSON, or 204 for nothing). Bodies are the config file's JSON shapes (`MockSpec`, one `scripts`
or `faults` item), read by the one body reader (`http.body`); errors are the upstream error shape, with
the config file's key-path words in a 422 (`match.mesage: unknown key`). Operations that grow with their
input run in turns (`world.heavy`), as their row says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any

from mockserver import jsonio
from mockserver.control.openapi import admin_openapi_json
from mockserver.control.operations import OPERATIONS, PREFIX, Operation, Turns
from mockserver.control.page import journal_page, page_headers
from mockserver.control.reports import JournalPage
from mockserver.control.service import ControlError, MockControl
from mockserver.errors import ApiError
from mockserver.fixed_unicode import quoted
from mockserver.http.body import too_many_values
from mockserver.http.request import Request
from mockserver.http.router import Handler, Key, Route
from mockserver.jsonio import over_values
from mockserver.pipeline.delivery import Delivery, Relayed, empty, json_value, typed
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry

if TYPE_CHECKING:
    from mockserver.world.tenants import Tenants

_INT_FILTERS = ("status", "since", "limit", "call")


def admin_routes(tenants: Tenants | None = None) -> list[Route]:
    """A route per path of the table (its methods together), the journal page and the admin document."""
    by_path: dict[str, dict[str, Handler]] = {}
    bodies: dict[str, set[str]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(PREFIX + operation.path, {})[operation.method] = partial(_serve, operation, tenants)
        if operation.body is not None:
            bodies.setdefault(PREFIX + operation.path, set()).add(operation.method)
    # (each takes turns for a large body's work itself, as its row says)
    routes = [Route(path, handlers, key=Key.CONFIGURED, takes_turns=frozenset(handlers),
                    reads_body=frozenset(bodies.get(path, ()))) for path, handlers in by_path.items()]
    routes.append(Route(PREFIX + "/", {"GET": _page}, key=Key.NONE))
    routes.append(Route(PREFIX + "/openapi.json", {"GET": _document}, key=Key.CONFIGURED))
    return routes


async def _serve(operation: Operation, tenants: Tenants | None, request: Request) -> Delivery:
    world = request.world
    control = MockControl(world, tenants)
    arguments: dict[str, Any] = {**operation.fixed, **request.path_params}
    if operation.body is not None:
        arguments[operation.body] = await _json_body(request)
    if operation.query is not None:
        arguments[operation.query] = _filters(request)
    method = getattr(control, operation.call)
    if operation.turns is Turns.STEPS:
        result = await world.turns.steps(world, getattr(control, operation.call + "_steps")(**arguments))
        if isinstance(result, JournalPage):
            return await _journal_page(request, result)
    elif operation.turns is Turns.WHOLE:
        result = await world.turns.run(world, partial(method, **arguments))
    else:
        result = method(**arguments)
    return empty(204) if result is None else json_value(result, operation.ok)


async def _json_body(request: Request) -> Any:
    """The body as JSON (413 past `--max-body-values`, 422 when it is not JSON); a large one in a turn."""
    world = request.world
    if len(request.body) > HEAVY_BODY_BYTES:
        return await world.turns.run(world, _parsed, request.body, world.settings.max_body_values)
    return _parsed(request.body, world.settings.max_body_values)


def _parsed(raw: bytes, max_values: int) -> Any:
    values = over_values(raw, max_values)
    if values is not None:
        raise too_many_values(values, max_values)
    try:
        return jsonio.loads(raw) if raw else {}  # strict: no lone surrogates, no numbers beyond a double
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(422, [{"loc": ["body"], "msg": "body is not valid JSON", "type": "value_error.jsondecode"}]
                       ) from None


def _filters(request: Request) -> dict[str, Any]:
    """Query parameters as a `RequestFilter` dict (numbers and flags converted, `inputs` as JSON)."""
    data: dict[str, Any] = {}
    for key, value in dict(request.query()).items():  # (the last of a repeated parameter)
        if key in _INT_FILTERS:
            try:
                if not value.isascii():  # int() takes any Unicode digit, and each Python knows more of them
                    raise ValueError(value)
                data[key] = int(value)
            except ValueError:
                raise ControlError(422, [f"{key}: not an integer (got {quoted(value)})"]) from None
        elif key == "chat":
            data[key] = value.lower() in ("1", "true", "yes", "on")
        elif key == "inputs":
            try:
                data[key] = jsonio.loads(value)
            except ValueError:
                raise ControlError(422, [f"inputs: not JSON (got {quoted(value)})"]) from None
        else:
            data[key] = value
    return data


async def _journal_page(request: Request, page: JournalPage) -> Delivery:
    """The listing as JSON, each entry written in turns and sent in pieces of about a megabyte: a journal
    of thousands of large entries is listed without holding the event loop or one copy of it all. A whole
    JSON answer goes in as it was sent, never parsed again (`JournalEntry.as_json`)."""
    world = request.world
    records = await world.turns.map(world, page.shown, JournalEntry.as_json)
    head = b'{"total":%d,"requests":[' % page.total
    tail = b'],"rule_labels":' + jsonio.dumps(page.rule_labels) + b"}"
    return Relayed(200, [(b"content-type", b"application/json")], _joined(head, records, tail))


async def _joined(head: bytes, records: list[bytes], tail: bytes) -> AsyncIterator[bytes]:
    """`head + b",".join(records) + tail`, in pieces of about a megabyte (never one copy of it all)."""
    piece, size = [head], len(head)
    for index, record in enumerate(records):
        piece.append(b"," + record if index else record)
        size += len(record)
        if size > 1 << 20:
            yield b"".join(piece)
            piece, size = [], 0
    piece.append(tail)
    yield b"".join(piece)


async def _page(request: Request) -> Delivery:
    """The journal page. Served without a key: it holds no data, and a browser's address bar cannot
    send `X-API-KEY`; its own fetches send the key typed into it."""
    return typed(journal_page().encode("utf-8"), "text/html; charset=utf-8", page_headers())


async def _document(request: Request) -> Delivery:
    return typed(admin_openapi_json().encode("utf-8"), "application/json")
