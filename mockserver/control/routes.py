"""The `/__admin` routes: each one a thin HTTP door onto `MockControl` for the caller's tenant.

Bodies are the config file's JSON shapes (`MockSpec`, one `scripts` or `faults` item); errors are the
upstream error shape, with the config file's key-path words in a 422 (`match.mesage: unknown key`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mockserver import jsonio
from mockserver.control.openapi import admin_openapi_json
from mockserver.control.page import journal_page, page_headers
from mockserver.control.service import (
    ControlError,
    MockControl,
    call_hint,
    chat_request,
    unexpected_report,
    unused_report,
)
from mockserver.errors import ApiError, error_response
from mockserver.jsonio import over_values
from mockserver.routes.common import context_of, declared_over
from mockserver.spec.rules import Rule
from mockserver.world.auth import check_api_key
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry

PREFIX = "/__admin"
_INT_FILTERS = ("status", "since", "limit", "call")
AdminHandler = Callable[[Request, MockControl], Awaitable[Any]]


def _json(body: Any, status: int = 200) -> Response:
    return Response(jsonio.dumps(body), status_code=status, media_type="application/json")


def _control(request: Request) -> MockControl:
    """The control service of the caller's tenant; with `--api-key`, only for an accepted key."""
    context = context_of(request)
    if context.settings.api_keys:
        check_api_key(request.headers, context.settings.api_keys)
    return MockControl(context)


async def _body(request: Request) -> Any:
    limit = context_of(request).settings.max_body_bytes
    too_large = ApiError(413, f"Request body is larger than this server's limit of {limit} bytes.",
                         {"Connection": "close"})  # the rest of it is never read
    if declared_over(request.scope, limit):
        raise too_large  # before a byte is read: `Expect: 100-continue` gets no `100 Continue`
    chunks, size = [], 0
    async for chunk in request.stream():  # stop reading at the limit, not after the whole body
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    context = context_of(request)
    if len(raw) > HEAVY_BODY_BYTES:  # a large body is scanned and parsed in a turn (`heavy`)
        return await context.turns.run(context, _parsed, raw, context.settings.max_body_values)
    return _parsed(raw, context.settings.max_body_values)


def _parsed(raw: bytes, max_values: int) -> Any:
    """An admin body as JSON: 413 past `max_values` values, 422 when it is not JSON."""
    values = over_values(raw, max_values)
    if values is not None:
        raise ApiError(413, f"Request body holds about {values} JSON values and keys, over this server's limit of "
                            f"{max_values} (--max-body-values).")
    try:
        return jsonio.loads(raw) if raw else {}  # strict: no lone surrogates, no numbers beyond a double
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(422, [{"loc": ["body"], "msg": "body is not valid JSON", "type": "value_error.jsondecode"}]
                       ) from None


def _filters(request: Request) -> dict[str, Any]:
    """Query parameters as a `RequestFilter` dict (numbers and flags converted, `inputs` as JSON)."""
    data: dict[str, Any] = {}
    for key, value in request.query_params.items():
        if key in _INT_FILTERS:
            try:
                data[key] = int(value)
            except ValueError:
                raise ControlError(422, [f"{key}: not an integer (got {value!r})"]) from None
        elif key == "chat":
            data[key] = value.lower() in ("1", "true", "yes", "on")
        elif key == "inputs":
            try:
                data[key] = jsonio.loads(value)
            except ValueError:
                raise ControlError(422, [f"inputs: not JSON (got {value!r})"]) from None
        else:
            data[key] = value
    return data


def _endpoint(handler: AdminHandler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request, _control(request))
        except ControlError as failed:
            if failed.status == 422:
                items = [{"loc": ["body"], "msg": problem, "type": "value_error.spec"} for problem in failed.problems]
                return error_response(ApiError(422, items))
            return error_response(ApiError(failed.status, " ".join(failed.problems)))
        except ApiError as error:
            return error_response(error)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204)
        return _json(result, status)

    return endpoint


async def _info(request: Request, control: MockControl) -> Any:
    return control.info()


async def _experiment(request: Request, control: MockControl) -> Any:
    return control.experiment(request.path_params["experiment_id"])


async def _put_spec(request: Request, control: MockControl) -> Any:
    data = await _body(request)
    return await control.context.turns.run(control.context, partial(control.load_spec, data, replace=True))


async def _post_spec(request: Request, control: MockControl) -> Any:
    data = await _body(request)
    return await control.context.turns.run(control.context, partial(control.load_spec, data, replace=False))


async def _get_spec(request: Request, control: MockControl) -> Any:
    return control.get_spec()


def _rule_routes(kind: str) -> list[BaseRoute]:
    plural = f"{PREFIX}/{kind}s"

    async def add(request: Request, control: MockControl) -> Any:
        data = await _body(request)
        created = await control.context.turns.run(control.context, control.add_rule, kind, data)
        return {"id": created["id"], "name": created["name"]}

    async def listing(request: Request, control: MockControl) -> Any:
        return control.list_rules(kind)  # type: ignore[arg-type]

    async def remove(request: Request, control: MockControl) -> Any:
        control.remove_rule(kind, request.path_params["rule_id"])  # type: ignore[arg-type]
        return None

    return [
        Route(plural, _endpoint(add, 201), methods=["POST"]),
        Route(plural, _endpoint(listing), methods=["GET"]),
        Route(plural + "/{rule_id}", _endpoint(remove), methods=["DELETE"]),
    ]


async def _get_requests(request: Request, control: MockControl) -> Any:
    """`MockControl.requests`, each entry tested and written in turns (`heavy`): a journal of thousands of
    large entries is listed without holding the event loop."""
    listing = control.request_listing(_filters(request))
    context = control.context
    kept = await context.turns.map(context, listing.entries, listing.selects)
    selected = [entry for entry, keep in zip(listing.entries, kept, strict=True) if keep]
    shown = listing.limited(selected)
    records = await context.turns.map(context, shown, JournalEntry.as_json)
    head = b'{"total":%d,"requests":[' % len(selected)
    tail = b'],"rule_labels":' + jsonio.dumps(listing.rule_labels(shown)) + b"}"
    return StreamingResponse(_joined(head, records, tail), media_type="application/json")


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


async def _delete_requests(request: Request, control: MockControl) -> Any:
    control.clear_requests()
    return None


async def _unused(request: Request, control: MockControl) -> Any:
    """`MockControl.unused` in turns: each entry's chat request, then each (rule, entry) hint."""
    context = control.context
    rules = control.unused_rules()
    entries = context.journal.entries()
    calls = list(zip(entries, await context.turns.map(context, entries, chat_request), strict=True))
    hints: dict[int, str] = {}

    def look(pair: tuple[Rule[Any], tuple[JournalEntry, Any]]) -> None:
        rule, (entry, chat) = pair
        if id(rule) not in hints:
            hint = call_hint(rule, entry, chat)
            if hint is not None:
                hints[id(rule)] = hint

    await context.turns.map(context, ((rule, call) for _, rule in rules for call in calls), look)
    return [unused_report(rule, kind, calls, hints.get(id(rule))) for kind, rule in rules]


async def _unexpected(request: Request, control: MockControl) -> Any:
    """`MockControl.unexpected`, one entry at a time in turns."""
    context = control.context
    scripted, labels = bool(context.rules.scripts), control.labels()
    found = await context.turns.map(context, context.journal.entries(),
                                    lambda entry: unexpected_report(entry, scripted, labels))
    return [item for item in found if item is not None]


async def _reset(request: Request, control: MockControl) -> Any:
    return await control.context.turns.run(control.context, control.reset)


async def _openapi(request: Request, control: MockControl) -> Any:
    return Response(admin_openapi_json(), media_type="application/json")


async def _server(request: Request, control: MockControl) -> Any:
    """Server-wide figures (the byte budget by kind, tenants), and the caller's own world's share of
    them. Nothing in it tells one tenant what another sent: memo tables are per world."""
    tenants = request.app.state.tenants
    context = control.context
    return {"kept": tenants.budget.snapshot(), "tenant": {**context.account.snapshot(), "memo": context.memo.sizes()},
            "tenants": tenants.count(), "max_tenants": tenants.max_tenants, "tenants_evicted": tenants.evicted,
            "tenants_refused": tenants.refused}


async def _experiments(request: Request, control: MockControl) -> Any:
    return control.experiments()


async def _page(request: Request) -> Response:
    """The journal page. Served without a key: it holds no data, and a browser's address bar cannot
    send `X-API-KEY`; its own fetches send the key typed into it."""
    return HTMLResponse(journal_page(), headers=page_headers())


def admin_routes() -> list[BaseRoute]:
    return [
        Route(PREFIX + "/", _page, methods=["GET"]),
        Route(PREFIX + "/openapi.json", _endpoint(_openapi), methods=["GET"]),
        Route(PREFIX + "/info", _endpoint(_info), methods=["GET"]),
        Route(PREFIX + "/server", _endpoint(_server), methods=["GET"]),
        Route(PREFIX + "/experiments", _endpoint(_experiments), methods=["GET"]),
        Route(PREFIX + "/spec", _endpoint(_put_spec), methods=["PUT"]),
        Route(PREFIX + "/spec", _endpoint(_post_spec), methods=["POST"]),
        Route(PREFIX + "/spec", _endpoint(_get_spec), methods=["GET"]),
        Route(PREFIX + "/experiments/{experiment_id}", _endpoint(_experiment), methods=["GET"]),
        *_rule_routes("script"),
        *_rule_routes("fault"),
        Route(PREFIX + "/requests", _endpoint(_get_requests), methods=["GET"]),
        Route(PREFIX + "/requests", _endpoint(_delete_requests), methods=["DELETE"]),
        Route(PREFIX + "/unused", _endpoint(_unused), methods=["GET"]),
        Route(PREFIX + "/unexpected", _endpoint(_unexpected), methods=["GET"]),
        Route(PREFIX + "/reset", _endpoint(_reset), methods=["POST"]),
    ]
