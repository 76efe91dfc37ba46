"""Mutants: the real mock, wrapped so that each breaks exactly one rule of the contract.

A `Mutant` is an ASGI wrapper around `mockserver.create_app`: it may rewrite the request body before
the mock sees it, rewrite the mock's whole answer (status, headers, body) before the client does, or
never answer at all. `mutant_router` serves many of them on one server, each under `/m/<name>`, so
that one BackgroundServer per test worker carries the whole suite.

Each mutant names what must catch it: a check (`caught_by`), the field it must name, or, for a run
that cannot go on, the reason it stops (`base_url`); an innocent mutant (`caught_by=None`) must pass,
with the checks in `not_flagged` having judged it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import MockSettings, create_app

KEY = "mutant-key"


@dataclass
class Answer:
    """One exchange as the wrapper sees it; mutations edit it in place."""

    method: str
    path: str
    raw_path: str  # as sent, percent-escapes kept
    request: Any  # the request body as JSON (None if absent or not JSON)
    sent: bytes  # the request body as sent
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def is_chat(self) -> bool:
        return self.path == "/v4/chat-experiment" and self.status == 200

    @property
    def is_stream(self) -> bool:
        return self.is_chat and self.headers.get("content-type", "").startswith("text/event-stream")

    @property
    def is_chat_json(self) -> bool:
        return self.is_chat and self.headers.get("content-type", "").startswith("application/json")

    def json(self) -> Any:
        return json.loads(self.body)

    def set_json(self, value: Any) -> None:
        self.body = json.dumps(value).encode()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line[len(b"data: "):]) for line in self.body.split(b"\n\n") if line.startswith(b"data: ")]

    def set_events(self, events: list[dict[str, Any]], frame: Callable[[bytes], bytes] | None = None) -> None:
        frame = frame or (lambda payload: b"data: " + payload + b"\n\n")
        self.body = b"".join(frame(json.dumps(event).encode()) for event in events)

    def samples(self) -> list[dict[str, Any]]:
        """Every data item, of a JSON answer or of every stream event: edit these to edit the answer."""
        if self.is_chat_json:
            return self.json()["data"]
        return [event["data"][0] for event in self.events()]

    def edit_items(self, edit: Callable[[dict[str, Any]], None]) -> None:
        if self.is_chat_json:
            body = self.json()
            for item in body["data"]:
                edit(item)
            self.set_json(body)
        elif self.is_stream:
            events = self.events()
            for event in events:
                for item in event["data"]:
                    edit(item)
            self.set_events(events)


Mutation = Callable[[Answer], None]
RequestRewrite = Callable[[str, dict[str, str], Any], Any]


@dataclass
class Mutant:
    """The mock (its own instance), with one thing broken."""

    name: str
    caught_by: str | None  # the check that must name it (or the run's stop cause); None: it must pass
    mutate: Mutation | None = None
    rewrite_request: RequestRewrite | None = None  # (path, headers, body) -> new body
    rewrite_headers: Callable[[dict[str, str]], dict[str, str]] | None = None
    delay: Callable[[Answer], float] | None = None  # seconds before the answer starts
    hang: Callable[[Answer], bool] | None = None  # True: never answer (until the client goes away)
    settings: MockSettings = field(default_factory=lambda: MockSettings(seed=1, api_keys=(KEY,)))
    allow_writes: bool = False
    experiment_id: str = "exp_demo"
    # Generous, so that a busy test machine never trips first_byte_time; the slow mutant uses the default.
    max_first_byte: float = 10.0
    names_field: str | None = None  # the field (pattern) the finding must name, when it matters
    not_flagged: tuple[str, ...] = ()  # checks that must judge the run and find nothing
    base: str = "/v4"  # the base URL's path below the mutant's prefix
    options: dict[str, Any] = field(default_factory=dict)  # more CheckOptions for its run

    def __post_init__(self) -> None:
        self.app = create_app(self.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            request_json = json.loads(body) if body else None
        except ValueError:
            request_json = None
        if self.rewrite_headers is not None:
            headers = self.rewrite_headers(headers)
        if self.rewrite_request is not None and isinstance(request_json, dict):
            request_json = self.rewrite_request(scope["path"], headers, request_json)
            body = json.dumps(request_json).encode()
        headers["content-length"] = str(len(body))
        scope = {**scope, "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]}
        answer = await self._answer(scope, body, request_json)
        if self.mutate is not None:
            self.mutate(answer)
        if self.hang is not None and self.hang(answer):
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        if self.delay is not None:
            await asyncio.sleep(self.delay(answer))
        out_headers = {**answer.headers, "content-length": str(len(answer.body))}
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers.items()]})
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, scope: Scope, body: bytes, request_json: Any) -> Answer:
        delivered = False
        status, headers, parts = 0, {}, []

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                await asyncio.sleep(3600)
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        return Answer(scope["method"], scope["path"], raw_path, request_json, body, status, headers, b"".join(parts))


def mutant_router(mutants: list[Mutant]) -> ASGIApp:
    """One ASGI app serving each mutant under `/m/<name>` (so its base URL is `.../m/<name>/v4`)."""
    by_name = {m.name: m for m in mutants}

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        _, _, name, *rest = [*scope["path"].split("/", 3), ""]
        mutant = by_name.get(name)
        if mutant is None or not scope["path"].startswith("/m/"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        path = "/" + (rest[0] if rest else "")
        raw = scope.get("raw_path") or scope["path"].encode()
        raw_path = b"/" + raw.split(b"/", 3)[3] if raw.count(b"/") >= 3 else path.encode()
        await mutant({**scope, "path": path, "raw_path": raw_path}, receive, send)

    return route


# ---- the mutations --------------------------------------------------------------------------------

def _finish_outside_set(answer: Answer) -> None:
    def edit(item: dict[str, Any]) -> None:
        if item.get("finish_reason") is not None:
            item["finish_reason"] = "complete"

    answer.edit_items(edit)


def _stream_flag(value: bool) -> RequestRewrite:
    def rewrite(path: str, headers: dict[str, str], body: Any) -> Any:
        if path == "/v4/chat-experiment" and bool(body.get("stream")) != value:
            body["stream"] = value
        return body

    return rewrite


def _stream_as_json(answer: Answer) -> None:
    if answer.is_stream:
        answer.headers["content-type"] = "application/json"


def _no_blank_line(answer: Answer) -> None:
    if answer.is_stream:
        answer.set_events(answer.events(), frame=lambda payload: b"data: " + payload + b"\n")


def _no_space_after_colon(answer: Answer) -> None:
    if answer.is_stream:
        answer.set_events(answer.events(), frame=lambda payload: b"data:" + payload + b"\n\n")


def _last_event_unfinished(answer: Answer) -> None:
    if answer.is_stream:
        events = answer.events()
        for event in events:
            event["data"][0]["finish_reason"] = None
        answer.set_events(events)


def _indexes_off_by_one(answer: Answer) -> None:
    def edit(item: dict[str, Any]) -> None:
        item["index"] += 1

    answer.edit_items(edit)


def _two_data_items(answer: Answer) -> None:
    if answer.is_stream:
        events = answer.events()
        events[0]["data"] = events[0]["data"] * 2
        answer.set_events(events)


def _output_differs(answer: Answer) -> None:
    def edit(item: dict[str, Any]) -> None:
        if item["output"]:
            item["output_message"]["content"] = item["output"] + " (edited)"

    answer.edit_items(edit)


def _errors_shape(answer: Answer) -> None:
    if answer.status == 422:
        answer.set_json({"errors": answer.json()["detail"]})


def _slow_single_streams(answer: Answer) -> float:
    # a server that takes 3 s before it streams a single sample (a cold start, a slow upstream)
    return 3.0 if answer.is_stream and (answer.request or {}).get("num_samples", 1) == 1 else 0.0


def _drop_config_id(answer: Answer) -> None:
    answer.edit_items(lambda item: item.pop("model_config_id", None))


def _usage_as_strings(answer: Answer) -> None:
    if answer.is_chat_json:
        body = answer.json()
        body["usage"] = {k: str(v) for k, v in body["usage"].items()}
        answer.set_json(body)


def _ignore_auth(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "x-api-key": KEY}


def _server_error_on_three_samples(answer: Answer) -> None:
    if answer.is_chat_json and (answer.request or {}).get("num_samples") == 3:
        answer.status = 500
        answer.set_json({"detail": "Internal Server Error"})


def _delete_answers_200(answer: Answer) -> None:
    if answer.method == "DELETE" and answer.status == 204:
        answer.status = 200
        answer.headers["content-type"] = "application/json"
        answer.set_json({"deleted": True})


def _huge_first_event(answer: Answer) -> None:
    if answer.is_stream:
        events = answer.events()
        events[0]["metadata"] = {"padding": "x" * (600 * 1024)}
        answer.set_events(events)


def _stream_text_differs(answer: Answer) -> None:
    def edit(item: dict[str, Any]) -> None:
        item["output"] = item["raw_output"] = item["output"].upper()
        if item["output_message"].get("content") is not None:
            item["output_message"]["content"] = item["output"]

    if answer.is_stream:
        answer.edit_items(edit)


_calls = itertools.count()


def _repeat_differs(answer: Answer) -> None:
    number = next(_calls)

    def edit(item: dict[str, Any]) -> None:
        if item["output"]:
            item["output"] = item["raw_output"] = f"{item['output']} #{number}"
            item["output_message"]["content"] = item["output"]

    if answer.is_chat_json:
        answer.edit_items(edit)


def _output_not_a_string(answer: Answer) -> None:
    if answer.is_chat_json:
        body = answer.json()
        body["data"][0]["output"] = 42
        answer.set_json(body)


def _not_json(answer: Answer) -> bool:
    """Prism 5.16's hang: a POST whose body is not JSON is never answered."""
    return answer.method == "POST" and answer.request is None


def _after(count: int) -> Callable[[Answer], bool]:
    seen = itertools.count()
    return lambda answer: next(seen) >= count


def _escapes_not_decoded(answer: Answer) -> None:
    """A server that looks ids up by the raw path: an id with escapes in it is never found."""
    if "%" in answer.raw_path:
        answer.status = 404
        answer.headers = {"content-type": "application/json"}
        answer.set_json({"detail": "Not Found"})


def _every_sample_finish_outside_set(answer: Answer) -> None:
    if answer.is_chat_json and len(answer.json()["data"]) >= 3:
        body = answer.json()
        for item in body["data"]:
            item["finish_reason"] = "complete"
        answer.set_json(body)


def _errors_as_problem_json(answer: Answer) -> None:
    if answer.status >= 400 and answer.status != 422:
        answer.headers["content-type"] = "application/problem+json"


def _success_as_problem_json(answer: Answer) -> None:
    if answer.is_chat_json:
        answer.headers["content-type"] = "application/problem+json"


def all_mutants() -> list[Mutant]:
    """Every deviation issues 7 and 17 list, and then some; each with what must catch it."""
    return [
        # issue 17's cases: targets nobody here wrote, and the false alarms they met
        Mutant("output-not-a-string", "response_schema", _output_not_a_string, names_field="data[*].output"),
        Mutant("hangs-on-malformed-json", "response_received", hang=_not_json, names_field="connection",
               not_flagged=("target_unresponsive",), options={"timeout": 1.0}),
        Mutant("stops-answering", "target_unresponsive", hang=_after(8), names_field="(target)",
               options={"timeout": 0.5}),
        Mutant("escaped-path-ids", "valid_request_accepted", _escapes_not_decoded, names_field="status",
               experiment_id="exp?x sed consequat"),
        Mutant("base-url-doubled", "base_url", base="/v4/v4"),
        Mutant("bad-finish-in-every-sample", "finish_reason_value", _every_sample_finish_outside_set,
               names_field="data[*].finish_reason"),
        Mutant("errors-as-problem-json", None, _errors_as_problem_json, not_flagged=("content_type_json",)),
        Mutant("success-as-problem-json", "content_type_json", _success_as_problem_json, names_field="Content-Type"),
        Mutant("finish-reason-outside-set", "finish_reason_value", _finish_outside_set),
        Mutant("stream-true-answered-json", "stream_flag_content_type", rewrite_request=_stream_flag(False)),
        Mutant("stream-false-answered-stream", "stream_flag_content_type", rewrite_request=_stream_flag(True)),
        Mutant("stream-sent-as-application-json", "stream_flag_content_type", _stream_as_json),
        Mutant("events-without-blank-line", "stream_framing", _no_blank_line),
        Mutant("data-without-space", "stream_framing", _no_space_after_colon),
        Mutant("last-event-without-finish-reason", "stream_finish_reason", _last_event_unfinished),
        Mutant("indexes-off-by-one", "sample_indexes", _indexes_off_by_one),
        Mutant("event-with-two-data-items", "stream_event_shape", _two_data_items),
        Mutant("output-differs-from-message", "output_matches_message", _output_differs),
        Mutant("422-shaped-errors", "validation_error_shape", _errors_shape),
        Mutant("3s-first-byte", "first_byte_time", delay=_slow_single_streams, max_first_byte=2.0),
        Mutant("dropped-field", "response_schema", _drop_config_id),
        Mutant("wrong-types", "response_schema", _usage_as_strings),
        Mutant("ignored-auth", "auth_required", rewrite_headers=_ignore_auth),
        Mutant("500-on-valid-request", "not_a_server_error", _server_error_on_three_samples),
        Mutant("delete-answers-200", "delete_status", _delete_answers_200, allow_writes=True),
        Mutant("event-line-over-512k", "event_line_size", _huge_first_event),
        Mutant("stream-text-differs-from-json", "determinism_stream_matches_json", _stream_text_differs),
        Mutant("same-request-different-text", "determinism_repeatable", _repeat_differs),
        Mutant("strict-unknown-experiment", "coverage", settings=MockSettings(seed=1, strict=True, api_keys=(KEY,)),
               experiment_id="exp_unknown"),
    ]
