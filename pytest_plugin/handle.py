"""`HumanloopMock`: the test author's handle on a running mock.

Set it up (experiments, scripts, faults), point code at it (`base_url`, in-process httpx clients),
and assert what was sent (the journal). Every setup method builds the same spec models the config
file uses (`mockserver.spec`), so a marker, a call and a file say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette

from contracts.chat import ChatExperimentRequest
from mockserver.context import MockContext
from mockserver.journal import JournalEntry
from mockserver.pipeline.match import call_matches
from mockserver.spec import (
    ConfigSpec,
    ExperimentSpec,
    FaultSpec,
    MockSpec,
    ProjectSpec,
    RequestMatch,
    ScriptedAnswer,
    ScriptSpec,
)
from mockserver.state import ActiveFault, ActiveScript
from pytest_plugin.transport import MockAsyncTransport, MockTransport

CHAT_PATH = "/v4/chat-experiment"
CLIENT_ERRORS = frozenset({401, 404, 405, 409, 413, 422})
_MATCH_FIELDS = frozenset(RequestMatch.model_fields)
DEFAULT_API_KEY = "humanloop-mock-test-key"


class MockRequestError(AssertionError):
    """An assertion about what was sent to the mock did not hold; the message lists the journal."""


def _split_match(options: dict[str, Any]) -> tuple[RequestMatch, dict[str, Any]]:
    """Separate `RequestMatch` keywords (experiment_id, message, ...) from the rest."""
    match = {k: options.pop(k) for k in list(options) if k in _MATCH_FIELDS}
    return RequestMatch.model_validate(match), options


def _answer(value: str | Mapping[str, Any] | ScriptedAnswer) -> ScriptedAnswer:
    if isinstance(value, ScriptedAnswer):
        return value
    if isinstance(value, str):
        return ScriptedAnswer(output=value)
    return ScriptedAnswer.model_validate(dict(value))


def describe(entry: JournalEntry) -> str:
    """One line per request: what a person needs to see which call went wrong."""
    body = entry.body if isinstance(entry.body, dict) else {}
    messages = body.get("messages") or []
    last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else None
    parts = [f"#{entry.seq} {entry.method} {entry.path} -> {entry.status}"]
    if body.get("experiment_id"):
        parts.append(f"experiment={body['experiment_id']}")
    if last is not None:
        parts.append(f"last message={str(last)[:60]!r}")
    if entry.faults:
        parts.append(f"faults={list(entry.faults)}")
    scripted = [s["script"] for s in entry.samples if s["script"]]
    if scripted:
        parts.append(f"scripts={scripted}")
    return " ".join(parts)


class HumanloopMock:
    """A handle on a live mock. `base_url` is what the official SDK takes as `host`."""

    def __init__(self, app: Starlette, base_url: str, *, api_key: str = DEFAULT_API_KEY) -> None:
        self.app = app
        self.base_url = base_url
        self.api_key = api_key
        self.strict = False
        self._context: MockContext = app.state.mock

    @property
    def seed(self) -> int:
        return self._context.state.seed

    # --- setting up ------------------------------------------------------------------------------

    def reset(self, spec: MockSpec | None = None) -> None:
        """Back to the base spec (or `spec`): experiments, scripts, faults, counters and journal."""
        self._context.state.reset(spec)
        self._context.journal.clear()

    def load(self, spec: MockSpec | Mapping[str, Any]) -> None:
        """Add everything a spec declares (the config-file shape) to what the mock already knows."""
        self._context.state.load(spec if isinstance(spec, MockSpec) else MockSpec.model_validate(dict(spec)))

    def add_experiment(
        self,
        id: str | None = None,
        *,
        configs: Iterable[Mapping[str, Any] | ConfigSpec] = ({"model": "gpt-4o"},),
        name: str | None = None,
        project: str = "tests",
        project_id: str | None = None,
        positive_labels: Iterable[Mapping[str, str]] = (),
    ) -> str:
        """Add an experiment with these configs (each may carry `weight` and `active`); returns its id."""
        experiment = ExperimentSpec.model_validate({
            "id": id,
            "name": name or id or "experiment",
            "configs": [c if isinstance(c, ConfigSpec) else dict(c) for c in configs],
            "positive_labels": list(positive_labels),
        })
        self.load(MockSpec(projects=[ProjectSpec(id=project_id, name=project, experiments=[experiment])]))
        state = self._context.state
        with state.lock:
            found = [e for e in state.experiments.values() if e.name == experiment.name and
                     (id is None or e.id == id)]
            return found[-1].id

    def script(
        self,
        output: str | None = None,
        *,
        answers: Iterable[str | Mapping[str, Any]] | None = None,
        times: int | str | None = "default",
        name: str | None = None,
        **options: Any,
    ) -> ActiveScript:
        """Answer matching samples with scripted text or tool calls instead of generated text.

        `output`, `tool_calls`, `finish_reason`, `usage`, `chunks` describe the answer; `answers`
        gives a sequence (one per use). Match with `experiment_id`, `config_id`, `message`,
        `message_regex`, `inputs`, `call`. `times`: 1 by default (or one per answer); None = always.
        """
        match, answer_fields = _split_match(dict(options))
        data: dict[str, Any] = {"name": name, "match": match}
        if answers is not None:
            data["answers"] = [_answer(a) for a in answers]
        else:
            if output is not None:
                answer_fields["output"] = output
            data["answer"] = _answer(answer_fields)
        if times != "default":
            data["times"] = times
        return self._context.state.add_script(ScriptSpec.model_validate(data))

    def fault(self, status: int | None = None, *, times: int | None = 1, name: str | None = None,
              **options: Any) -> ActiveFault:
        """Break matching calls: `status` (with `retry_after`, `detail`), `latency`, `first_event_delay`,
        `event_delay`, `cut_after_events`, `malformed_event`, `reset`. Which calls: `on_call` (the nth),
        `times` (the next N; None = always) and the match keywords (`experiment_id`, `message`, ...)."""
        match, effects = _split_match(dict(options))
        spec = FaultSpec.model_validate({"name": name, "match": match, "status": status, "times": times, **effects})
        return self._context.state.add_fault(spec)

    # --- reaching it -----------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key}

    def transport(self) -> MockTransport:
        """A sync httpx transport into the same app, in-process, streaming for real."""
        return MockTransport(self.app)

    def async_transport(self) -> MockAsyncTransport:
        return MockAsyncTransport(self.app)

    def httpx_client(self, **kwargs: Any) -> httpx.Client:
        """An `httpx.Client` on the in-process transport, with `base_url` and the API key set."""
        kwargs.setdefault("headers", self.headers)
        return httpx.Client(transport=self.transport(), base_url=self.base_url, **kwargs)

    def async_httpx_client(self, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("headers", self.headers)
        return httpx.AsyncClient(transport=self.async_transport(), base_url=self.base_url, **kwargs)

    def sdk_client(self) -> Any:
        """The official `humanloop` client pointed at this mock (needs `pip install humanloop==0.7.32`)."""
        from humanloop import Humanloop

        return Humanloop(api_key=self.api_key, host=self.base_url)

    # --- what was sent ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[JournalEntry]:
        """Every request since the last reset, in order, whatever its fate."""
        return self._context.journal.entries()

    def chat_calls(self, **match: Any) -> list[JournalEntry]:
        """Valid chat-experiment calls (answered or faulted), filtered by match keywords."""
        wanted = RequestMatch.model_validate(match)
        found = []
        for entry in self.requests:
            if entry.path != CHAT_PATH or entry.call is None:
                continue
            request = ChatExperimentRequest.model_validate(entry.body)
            if call_matches(wanted, request, entry.call):
                found.append(entry)
        return found

    @property
    def last_chat(self) -> JournalEntry:
        calls = self.chat_calls()
        if not calls:
            raise MockRequestError("no chat-experiment call was made.\n" + self.summary())
        return calls[-1]

    def summary(self) -> str:
        lines = [describe(e) for e in self.requests] or ["(no requests)"]
        return "requests the mock received:\n  " + "\n  ".join(lines)

    def assert_called(self, times: int, **match: Any) -> list[JournalEntry]:
        """Exactly `times` chat-experiment calls matched (`experiment_id=`, `message=`, ...)."""
        calls = self.chat_calls(**match)
        if len(calls) != times:
            what = f" matching {match}" if match else ""
            raise MockRequestError(f"expected {times} chat-experiment call(s){what}, got {len(calls)}.\n"
                                   + self.summary())
        return calls

    def assert_sent(self, call: int | None = None, **expected: Any) -> dict[str, Any]:
        """The body of a chat call (the last, or the `call`-th) holds these top-level values."""
        chosen = self.last_chat if call is None else next((c for c in self.chat_calls() if c.call == call), None)
        if chosen is None:
            raise MockRequestError(f"there was no chat-experiment call number {call}.\n" + self.summary())
        body = chosen.body
        wrong = {k: (v, body.get(k, "<absent>")) for k, v in expected.items() if body.get(k, object()) != v}
        if wrong:
            lines = [f"  {k}: expected {json.dumps(v)}, sent {json.dumps(got)}" for k, (v, got) in wrong.items()]
            raise MockRequestError(f"chat-experiment call #{chosen.call} did not send what was expected:\n"
                                   + "\n".join(lines) + "\n" + self.summary())
        return body

    # --- strict mode -----------------------------------------------------------------------------

    def unused(self) -> list[str]:
        """Scripts and faults that were not used as many times as they were set up for."""
        state = self._context.state
        problems = []
        for script in state.scripts:
            if script.used == 0 or (script.spec.times is not None and script.used < script.spec.times):
                problems.append(f"script {script.key!r} answered {script.used} of {script.spec.times or 'any'}")
        for fault in state.faults:
            if fault.used == 0 or (fault.spec.times is not None and fault.used < fault.spec.times):
                problems.append(f"fault {fault.key!r} fired {fault.used} of {fault.spec.times or 'any'}")
        return problems

    def unexpected(self) -> list[str]:
        """Requests the test did not plan for: client errors it did not inject, and, when the test
        scripted answers, samples no script answered."""
        scripted = bool(self._context.state.scripts)
        problems = []
        for entry in self.requests:
            if entry.status in CLIENT_ERRORS and not entry.faults:
                problems.append(f"{describe(entry)} (error: {entry.error})")
            elif scripted and entry.path == CHAT_PATH and any(s["script"] is None for s in entry.samples):
                problems.append(f"{describe(entry)} (no script matched)")
        return problems

    def verify(self) -> None:
        """Raise `MockRequestError` listing unused scripts/faults and unexpected requests."""
        problems = self.unused() + self.unexpected()
        if problems:
            raise MockRequestError("humanloop-mock strict mode:\n  " + "\n  ".join(problems))
