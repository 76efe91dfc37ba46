"""The named checks. Each per-response check looks at one exchange and names the field it faults.

A check returns None when it does not apply to the exchange, else a list of (field, message): empty
when the exchange passes. Checks that need several exchanges (coverage, use after delete, the
official client, determinism) are registered here by name and run by `runner` and the profiles.

Every check has a severity: `breaks-clients` when an answer failing it was seen to break one of the
official clients (Python 0.7.32 sync, async, stream; npm 0.5.36): the call raised something other
than the client's API error, hung, or handed the caller less than the answer held; `contract` when
the clients cope and only the upstream document is not honoured. The severities are derived by
running the clients against answers that fail each check (tests/checker/client_evidence.py); the test
beside it fails if a severity below is not what the clients do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.chat import ChatResponse
from contracts.check.exchange import Exchange, Intent, Response, Violation, loads
from contracts.check.operations import (
    CHAT,
    TRANSIENT,
    body_model,
    documented_statuses,
    find_operation,
    schema_errors,
)
from contracts.check.sse import DONE, MAX_LINE_BYTES, parse_stream

FINISH_REASONS = ("stop", "length", "tool_call")
BREAKS_CLIENTS = "breaks-clients"
CONTRACT = "contract"
SEVERITIES = (BREAKS_CLIENTS, CONTRACT)  # most severe first
Problems = list[tuple[str, str]]
ResponseCheck = Callable[[Exchange, "Settings"], Problems | None]


@dataclass(frozen=True)
class Settings:
    max_first_byte: float = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    summary: str
    severity: str
    run: ResponseCheck | None = None  # None: a check over several exchanges, run elsewhere


CHECKS: dict[str, Check] = {}


def check(name: str, severity: str, summary: str) -> Callable[[ResponseCheck], ResponseCheck]:
    def register(function: ResponseCheck) -> ResponseCheck:
        CHECKS[name] = Check(name, summary, severity, function)
        return function

    return register


def run_level(name: str, severity: str, summary: str) -> str:
    CHECKS[name] = Check(name, summary, severity)
    return name


def counts_at(check_name: str, fail_on: str) -> bool:
    """Whether a violation of this check fails a run with `--fail-on fail_on`."""
    return SEVERITIES.index(CHECKS[check_name].severity) <= SEVERITIES.index(fail_on)


# ---- helpers ---------------------------------------------------------------------------------------

def _detail(response: Response, limit: int = 120) -> str:
    body = _json_object(response)
    detail = body.get("detail") if body is not None and "detail" in body else response.body[:limit].decode(
        "utf-8", "replace")
    text = detail if isinstance(detail, str) else _clip(detail, limit)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_chat_stream(exchange: Exchange) -> bool:
    response = exchange.response
    return (exchange.request.operation == CHAT and response is not None and response.is_success
            and response.media_type == "text/event-stream")


def _is_chat_json(exchange: Exchange) -> bool:
    response = exchange.response
    return (exchange.request.operation == CHAT and response is not None and response.is_success
            and response.media_type == "application/json")


def _json_object(response: Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _stream_items(exchange: Exchange) -> list[tuple[int, dict[str, Any]]]:
    """(event number, its data[0]) for every event that parsed as a ChatResponse-like object."""
    assert exchange.response is not None
    return _items_of_stream(exchange.response.body)


@functools.lru_cache(maxsize=8)
def _items_of_stream(body: bytes) -> list[tuple[int, dict[str, Any]]]:
    """`_stream_items` of a body, parsed once for all the checks that read it (never changed by them)."""
    items = []
    for number, payload in enumerate(parse_stream(body).payloads):
        try:
            event = loads(payload)
        except ValueError:
            continue
        data = event.get("data") if isinstance(event, dict) else None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            items.append((number, data[0]))
    return items


def _json_items(exchange: Exchange) -> list[dict[str, Any]]:
    assert exchange.response is not None
    body = _json_object(exchange.response)
    data = body.get("data") if body else None
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _index_order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) and not isinstance(value, bool) else (1, repr(value))


def _success(exchange: Exchange) -> bool:
    return exchange.response is not None and exchange.response.is_success


# ---- every response --------------------------------------------------------------------------------

@check("response_received", BREAKS_CLIENTS, "every request gets a whole answer in time: no refused or dropped "
                                            "connection, no cut or endless body, no timeout")
def response_received(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if response is None or response.error:
        return [("connection", response.error if response is not None else "no response")]
    return []


# The Python client's HTTP readers: http.client (the sync client) refuses an answer of 100 header lines or more
# (it counts the blank line that ends them against its limit of 100); aiohttp (the async client) a header line
# over 8,190 bytes: its Python parser (where its C extension is not installed) counts the whole `name: value`
# line, its C parser only the value. Both found by running the clients (tests/checker/client_evidence.py).
MAX_HEADER_LINES = 99
MAX_HEADER_LINE_BYTES = 8190


@check("header_limits", BREAKS_CLIENTS, f"at most {MAX_HEADER_LINES} header lines, none over "
                                        f"{MAX_HEADER_LINE_BYTES} bytes (the Python client's readers refuse more)")
def header_limits(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if response is None or response.status == 0:
        return None
    lengths = response.header_line_lengths()
    problems = []
    if len(lengths) > MAX_HEADER_LINES:
        problems.append(("headers", f"{len(lengths)} header lines; the sync Python client refuses more than "
                                    f"{MAX_HEADER_LINES}"))
    if lengths and max(lengths) > MAX_HEADER_LINE_BYTES:
        problems.append(("headers", f"a header line of {max(lengths)} bytes; the async Python client refuses one "
                                    f"over {MAX_HEADER_LINE_BYTES}"))
    return problems


@check("not_a_server_error", BREAKS_CLIENTS, "no request, however wrong, is answered 5xx")
def not_a_server_error(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if response is None or response.status == 0:
        return None
    if response.status >= 500 and response.status not in TRANSIENT:
        return [("status", f"answered {response.status}: {_detail(response)}")]
    return []


@check("status_code_documented", CONTRACT, "every status is one the contract documents for the operation "
                                           "(redirects are never followed)")
def status_code_documented(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    op = find_operation(exchange.request.operation)
    if response is None or op is None or response.status == 0 or response.status >= 500:
        return None
    documented = documented_statuses(op)
    if response.status in documented or response.status in TRANSIENT:
        return []
    where = response.headers.get("location")
    what = f"redirects to {_clip(where, 80)} (not followed)" if 300 <= response.status < 400 and where else _detail(
        response)
    return [("status", f"answered {response.status}, not documented for this operation "
                       f"(documented: {', '.join(map(str, sorted(documented)))}): {what}")]


def _body_is_read(exchange: Exchange) -> bool:
    """The answers whose body the official clients parse as JSON: a 2xx (but a stream and a 204) and a
    422. For every other status they raise their API error whatever the Content-Type says."""
    response = exchange.response
    assert response is not None
    if response.status == 422:
        return True
    if not response.is_success or response.status == 204:
        return False
    return not (exchange.request.operation == CHAT and exchange.request.wants_stream)


@check("content_type_json", BREAKS_CLIENTS, "a 2xx answer (but a stream and a 204) and a 422 are "
                                            "`application/json` holding JSON: the async Python client raises on "
                                            "any other type, the sync one on a body that is not JSON")
def content_type_json(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if response is None or response.status == 0 or not _body_is_read(exchange):
        return None
    if response.media_type != "application/json":
        return [("Content-Type", f"{response.status} answered as {response.content_type or 'no Content-Type'!r}, "
                                 "expected application/json")]
    try:
        response.json()
    except ValueError as bad:
        return [("(body)", f"{response.status} body is not JSON: {_clip(str(bad), 80)}")]
    return []


@check("response_schema", CONTRACT, "every JSON body validates against the contract's model for its status")
def response_schema(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    op = find_operation(exchange.request.operation)
    if response is None or op is None or response.media_type != "application/json" or response.status in (0, 422):
        return None
    if response.status >= 500 or (not response.is_success and response.status not in documented_statuses(op)
                                  and response.status not in TRANSIENT):
        return None
    model = body_model(op, response.status)
    if model is None:
        return None
    try:
        response.json()
    except ValueError:
        return None  # content_type_json reports it
    return schema_errors(model, response.body)


@check("validation_error_shape", CONTRACT, "a 422 is `{\"detail\": [{\"loc\": [...], \"msg\": \"...\", \"type\": "
                                           "\"...\"}]}`, upstream's shape")
def validation_error_shape(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if response is None or response.status != 422:
        return None
    body = _json_object(response)
    if body is None:
        return [("(body)", "the 422 body is not a JSON object")]
    detail = body.get("detail")
    if not isinstance(detail, list) or not detail:
        keys = ", ".join(sorted(body)) or "none"
        return [("detail", f"expected a non-empty list under `detail`, got keys: {_clip(keys, 80)}")]
    problems: Problems = []
    for position, item in enumerate(detail):
        if not isinstance(item, dict):
            problems.append((f"detail[{position}]", "not an object"))
            continue
        loc = item.get("loc")
        if not isinstance(loc, list) or not all(isinstance(p, str | int) and not isinstance(p, bool) for p in loc):
            problems.append((f"detail[{position}].loc", f"expected a list of strings and integers, got {_clip(loc)}"))
        for key in ("msg", "type"):
            if not isinstance(item.get(key), str):
                problems.append((f"detail[{position}].{key}", f"expected a string, got {_clip(item.get(key))}"))
    return problems


# ---- what a request asked for ----------------------------------------------------------------------

@check("valid_request_accepted", BREAKS_CLIENTS, "a request the contract allows is answered 2xx (generated ones "
                                                 "may also get a documented 404/409 about the target's state)")
def valid_request_accepted(exchange: Exchange, settings: Settings) -> Problems | None:
    request, response = exchange.request, exchange.response
    if request.intent not in (Intent.VALID, Intent.VALID_FUZZ) or response is None or response.status == 0:
        return None
    if response.is_success or response.status in TRANSIENT or response.status >= 500:
        return []
    if request.intent is Intent.VALID:
        return [("status", f"expected 2xx, got {response.status}: {_detail(response)}")]
    if response.status in (404, 409):
        return []
    if response.status == 422 and missing_inputs(response):
        return []  # the experiment's template needs inputs the generated request does not have
    return [("status", f"a request the contract allows was refused with {response.status}: {_detail(response)}")]


def _detail_items(response: Response) -> list[dict[str, Any]]:
    body = _json_object(response)
    detail = body.get("detail") if body else None
    return [item for item in detail if isinstance(item, dict)] if isinstance(detail, list) else []


def _loc(item: dict[str, Any]) -> tuple[Any, ...]:
    loc = item.get("loc")
    return tuple(loc) if isinstance(loc, list) else ()


def missing_inputs(response: Response) -> list[str]:
    """The template inputs a 422 says are missing, when that is all it says (else empty)."""
    items = _detail_items(response)
    locs = [_loc(item) for item in items]
    if not locs or not all(loc[:2] == ("body", "inputs") for loc in locs):
        return []
    return [str(loc[2]) for loc in locs if len(loc) > 2]


@check("invalid_request_rejected", CONTRACT, "a request the contract forbids is refused with a 4xx (a 422 "
                                             "naming the field, for the explicit scenarios)")
def invalid_request_rejected(exchange: Exchange, settings: Settings) -> Problems | None:
    request, response = exchange.request, exchange.response
    if request.intent is not Intent.INVALID or response is None or response.status == 0:
        return None
    if response.is_success:
        return [("status", f"answered {response.status} to a request the contract forbids")]
    problems: Problems = []
    if request.expect_status is not None and response.status != request.expect_status:
        problems.append(("status", f"expected {request.expect_status}, got {response.status}: {_detail(response)}"))
    elif request.expect_loc is not None and response.status == 422:
        locs = [_loc(item) for item in _detail_items(response)]
        if not any(loc[: len(request.expect_loc)] == request.expect_loc for loc in locs):
            problems.append(("detail[].loc", f"no item names {list(request.expect_loc)} (got {_clip(locs, 80)})"))
    return problems


@check("auth_required", CONTRACT, "a request without X-API-KEY, or with a key the server never issued, gets 401")
def auth_required(exchange: Exchange, settings: Settings) -> Problems | None:
    request, response = exchange.request, exchange.response
    if request.intent not in (Intent.NO_KEY, Intent.WRONG_KEY) or response is None or response.status == 0:
        return None
    if response.status == 401:
        return []
    how = "without X-API-KEY" if request.intent is Intent.NO_KEY else "with a wrong X-API-KEY"
    return [("X-API-KEY", f"a request {how} was answered {response.status}, expected 401")]


@check("delete_status", CONTRACT, "DELETE answers 204 with an empty body")
def delete_status(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if exchange.request.method != "DELETE" or response is None or not response.is_success:
        return None
    problems: Problems = []
    if response.status != 204:
        problems.append(("status", f"DELETE answered {response.status}, expected 204"))
    if response.body:
        problems.append(("(body)", f"DELETE answered with a {len(response.body)}-byte body, expected none"))
    elif response.headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in response.headers:
        # HTTP reads no body after a 204, so the bytes announced stay on the connection for the next answer
        announced = response.headers.get("content-length") or response.headers.get("transfer-encoding")
        problems.append(("(body)", f"DELETE answered {response.status} announcing a body ({_clip(announced)}), "
                                   "expected none"))
    return problems


@check("first_byte_time", CONTRACT, "a stream's first event, and any answer but a JSON chat answer, starts within "
                                    "--max-first-byte seconds")
def first_byte_time(exchange: Exchange, settings: Settings) -> Problems | None:
    response = exchange.response
    if response is None or response.status == 0 or _is_chat_json(exchange):
        return None
    if response.first_byte_seconds > settings.max_first_byte:
        what = "first event" if _is_chat_stream(exchange) else "first byte"
        return [("first byte", f"the {what} came after {response.first_byte_seconds:.2f} s "
                               f"(limit {settings.max_first_byte:g} s)")]
    return []


# ---- chat answers, JSON and streamed ---------------------------------------------------------------

@check("stream_flag_content_type", BREAKS_CLIENTS, "`stream: true` is answered `text/event-stream` and `stream: "
                                                   "false` `application/json`, whatever the Accept header says")
def stream_flag_content_type(exchange: Exchange, settings: Settings) -> Problems | None:
    request, response = exchange.request, exchange.response
    if request.operation != CHAT or response is None or not response.is_success:
        return None
    if request.wants_stream and response.media_type != "text/event-stream":
        looks = " (the body is a stream)" if response.body.startswith(b"data:") else ""
        return [("Content-Type", f"stream: true answered as {response.content_type!r}{looks}, "
                                 "expected text/event-stream")]
    if not request.wants_stream and response.media_type == "text/event-stream":
        return [("Content-Type", "stream: false answered as text/event-stream, expected application/json")]
    return []


@check("stream_framing", BREAKS_CLIENTS, "every event is exactly `data: <one-line JSON>` then a blank line, whole "
                                         "(what the Python and npm clients parse)")
def stream_framing(exchange: Exchange, settings: Settings) -> Problems | None:
    if not _is_chat_stream(exchange):
        return None
    assert exchange.response is not None
    framing = parse_stream(exchange.response.body).framing
    return [("framing", framing)] if framing else []


@check("event_line_size", BREAKS_CLIENTS, f"every stream line is under {MAX_LINE_BYTES // 1024} KiB (aiohttp's "
                                          "limit in the Python client)")
def event_line_size(exchange: Exchange, settings: Settings) -> Problems | None:
    if not _is_chat_stream(exchange):
        return None
    assert exchange.response is not None
    longest = parse_stream(exchange.response.body).longest_line
    if longest >= MAX_LINE_BYTES:
        return [("event line", f"a line of {longest} bytes; the Python client refuses lines over {MAX_LINE_BYTES}")]
    return []


@check("stream_event_shape", BREAKS_CLIENTS, "every event is a ChatResponse with exactly one `data` item carrying "
                                             "`output` and `id`")
def stream_event_shape(exchange: Exchange, settings: Settings) -> Problems | None:
    if not _is_chat_stream(exchange):
        return None
    assert exchange.response is not None
    payloads = [p for p in parse_stream(exchange.response.body).payloads if p != DONE]
    if not payloads:
        return [("(body)", "the stream has no events")]
    problems: Problems = []
    for number, payload in enumerate(payloads):
        try:
            event = loads(payload)
        except ValueError:
            problems.append((f"event {number}", f"data is not one JSON document: {payload[:60]!r}"))
            continue
        data = event.get("data") if isinstance(event, dict) else None
        if isinstance(data, list) and len(data) != 1:
            problems.append(("data", f"event {number} has {len(data)} data items, expected exactly 1"))
        for field, message in schema_errors(ChatResponse, payload.encode("utf-8", "replace")):
            problems.append((field, f"event {number}: {message}"))
    return problems


def _sample_key(value: Any) -> str:
    return repr(value)  # indexes and ids as a target sends them: any JSON value, hashable or not


@check("sample_indexes", CONTRACT, "the samples' `index` values are exactly 0..num_samples-1")
def sample_indexes(exchange: Exchange, settings: Settings) -> Problems | None:
    expected = list(range(exchange.request.num_samples))
    if _is_chat_json(exchange):
        indexes = [item.get("index") for item in _json_items(exchange)]
        if indexes != expected:
            return [("data[].index", f"indexes {_clip(indexes, 60)}, expected {expected}")]
        return []
    if _is_chat_stream(exchange):
        seen = {_sample_key(item.get("index")): item.get("index") for _, item in _stream_items(exchange)}
        indexes = sorted(seen.values(), key=_index_order)
        if indexes != expected:
            return [("data[0].index", f"the stream's samples have indexes {_clip(indexes, 60)}, expected {expected}")]
        return []
    return None


@check("stream_finish_reason", CONTRACT, "in a stream, each sample's `finish_reason` is null until its last event, "
                                         "which has exactly one; one `id` and `model_config_id` per sample")
def stream_finish_reason(exchange: Exchange, settings: Settings) -> Problems | None:
    if not _is_chat_stream(exchange):
        return None
    problems: Problems = []
    samples: dict[str, dict[str, Any]] = {}
    for number, item in _stream_items(exchange):
        index = _clip(item.get("index"))
        sample = samples.setdefault(_sample_key(item.get("index")), {
            "index": index, "id": item.get("id"), "config": item.get("model_config_id"), "finished_at": None})
        if sample["finished_at"] is not None:
            problems.append(("data[0].finish_reason", f"sample {index}: event {number} comes after its finish_reason"))
        if item.get("finish_reason") is not None:
            sample["finished_at"] = number
        if item.get("id") != sample["id"]:
            problems.append(("data[0].id", f"sample {index}: id changed at event {number}"))
        if item.get("model_config_id") != sample["config"]:
            problems.append(("data[0].model_config_id", f"sample {index}: model_config_id changed at event {number}"))
    for sample in samples.values():
        if sample["finished_at"] is None:
            problems.append(("data[0].finish_reason", f"sample {sample['index']}: its last event has no finish_reason"))
    ids = [_sample_key(s["id"]) for s in samples.values()]
    if len(set(ids)) != len(ids):
        problems.append(("data[0].id", "two samples share one id"))
    return problems


@check("finish_reason_value", CONTRACT, f"every `finish_reason` given is one of {', '.join(FINISH_REASONS)} "
                                        "(upstream's description of the field)")
def finish_reason_value(exchange: Exchange, settings: Settings) -> Problems | None:
    if _is_chat_json(exchange):
        reasons = [(f"data[{i}].finish_reason", item.get("finish_reason")) for i, item in
                   enumerate(_json_items(exchange))]
    elif _is_chat_stream(exchange):
        reasons = [("data[0].finish_reason", item.get("finish_reason")) for _, item in _stream_items(exchange)
                   if item.get("finish_reason") is not None]
    else:
        return None
    return [(field, f"{_clip(reason)} is not one of {', '.join(FINISH_REASONS)}")
            for field, reason in reasons if reason not in FINISH_REASONS]


@check("output_matches_message", CONTRACT, "`output` equals `output_message.content` (null content only with an "
                                           "empty output)")
def output_matches_message(exchange: Exchange, settings: Settings) -> Problems | None:
    if _is_chat_json(exchange):
        items = [(f"data[{i}]", item) for i, item in enumerate(_json_items(exchange))]
    elif _is_chat_stream(exchange):
        items = [(f"event {n}: data[0]", item) for n, item in _stream_items(exchange)]
    else:
        return None
    problems: Problems = []
    for where, item in items:
        message = item.get("output_message")
        content = message.get("content") if isinstance(message, dict) else None
        output = item.get("output")
        if not isinstance(content, str | None) or not isinstance(output, str | None) or (content or "") != (
                output or ""):
            field = where.split(": ")[-1] + ".output"
            problems.append((field, f"{where}: output {_clip(output)} differs from output_message.content "
                                    f"{_clip(content)}"))
    return problems


@check("json_mode_output", CONTRACT, "with `response_format: json_object`, each finished sample's output is one "
                                     "JSON object")
def json_mode_output(exchange: Exchange, settings: Settings) -> Problems | None:
    body = exchange.request.json
    fmt = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_object" or not _success(exchange):
        return None
    outputs: list[tuple[str, Any, Any]] = []  # (sample as shown, output, finish_reason)
    if _is_chat_json(exchange):
        outputs = [(str(i), item.get("output"), item.get("finish_reason")) for i, item in
                   enumerate(_json_items(exchange))]
    elif _is_chat_stream(exchange):
        joined: dict[str, tuple[str, list[Any], Any]] = {}
        for _, item in _stream_items(exchange):
            shown, pieces, finish = joined.setdefault(_sample_key(item.get("index")),
                                                      (_clip(item.get("index")), [], None))
            pieces.append("" if item.get("output") is None else item.get("output"))
            joined[_sample_key(item.get("index"))] = (shown, pieces, item.get("finish_reason") or finish)
        for shown, pieces, finish in joined.values():
            odd = [piece for piece in pieces if not isinstance(piece, str)]
            outputs.append((shown, odd[0] if odd else "".join(pieces), finish))
    else:
        return None
    problems: Problems = []
    for shown, output, finish in outputs:
        if finish != "stop":
            continue  # cut by max_tokens, or a tool call: not a whole JSON object by design
        parsed: Any = None
        if isinstance(output, str):
            try:
                parsed = loads(output)
            except ValueError:
                parsed = None
        if not isinstance(parsed, dict):
            problems.append((f"data[{shown}].output", f"not a JSON object: {_clip(output)}"))
    return problems


def _clip(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- checks over several exchanges (run by runner and profiles) ------------------------------------

COVERAGE = run_level("coverage", BREAKS_CLIENTS, "chat-experiment was answered 2xx both as JSON and as a stream "
                                                 "(else nothing above was really checked)")
USE_AFTER_DELETE = run_level("use_after_delete", CONTRACT, "a deleted experiment is gone: updating or sampling it "
                                                           "gets 404")
RESOURCE_CONSISTENCY = run_level("resource_consistency", CONTRACT, "what was created, renamed or attached is what "
                                                                   "is listed, returned and sampled")
SDK_SYNC = run_level("sdk_sync", BREAKS_CLIENTS, "the official Python client's `chat_experiment` returns the samples "
                                                 "(string `output` and `id`) without raising")
SDK_ASYNC = run_level("sdk_async", BREAKS_CLIENTS, "the official Python client's `achat_experiment` returns the "
                                                   "samples without raising")
SDK_STREAM = run_level("sdk_stream", BREAKS_CLIENTS, "the official Python client's `chat_experiment_stream` yields "
                                                     "events with `output` and `id` without raising")
DETERMINISM_STREAM = run_level("determinism_stream_matches_json", CONTRACT, "mock only: a sample's streamed deltas "
                                                                            "join to its JSON `output` for the same "
                                                                            "request")
DETERMINISM_REPEAT = run_level("determinism_repeatable", CONTRACT, "mock only: the same request gives the same "
                                                                   "output for the same config and sample index")
TARGET_UNRESPONSIVE = run_level("target_unresponsive", BREAKS_CLIENTS, "the target keeps answering: several "
                                                                       "requests in a row without a whole answer, and "
                                                                       "then none to a request it answered before, "
                                                                       "stop the run")


def _crash(name: str, crashed: Exception, exchange: Exchange) -> tuple[str, str]:
    received = exchange.response.describe() if exchange.response is not None else "no response"
    return ("(check)", f"the check could not judge this answer ({type(crashed).__name__}: {_clip(str(crashed), 80)}); "
                       f"received: {received}")


def response_checks(exchange: Exchange, settings: Settings) -> tuple[list[Violation], list[str]]:
    """Every per-response check on one exchange: the violations, and the names of the checks that applied.

    Never raises: a check that fails on what it was given is itself a violation of that check, saying
    what was received, and the other checks still run."""
    violations: list[Violation] = []
    applied: list[str] = []
    for entry in CHECKS.values():
        if entry.run is None:
            continue
        try:
            problems = entry.run(exchange, settings)
        except Exception as crashed:
            problems = [_crash(entry.name, crashed, exchange)]
        if problems is None:
            continue
        applied.append(entry.name)
        violations.extend(Violation(entry.name, exchange.request.operation, field, message, exchange.number)
                          for field, message in problems)
        if entry.name == "response_received" and problems:
            break  # nothing else can be judged
    return violations, applied
