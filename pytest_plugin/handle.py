"""`HumanloopMock`: the test author's handle on a running mock.

Set it up (experiments, scripts, faults), point code at it (`base_url`, httpx clients), and assert what
was sent (the journal). It is a client of the control service (`mockserver.control`): in-process by
default, or over `/__admin` against a running `serve --isolate-keys` in remote mode. Every setup
method builds the same spec models the config file uses, so a marker, a call and a file say the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mockserver.control.reports import describe
from mockserver.errors import DomainError
from mockserver.fixed_unicode import quoted
from mockserver.spec.errors import SpecError, validate
from mockserver.spec.models import ConfigSpec, FaultSpec, MockSpec, RequestMatch, ScriptedAnswer, ScriptSpec
from pytest_plugin.arguments import call_title, drop_leading, experiment_keywords, takes_keywords
from pytest_plugin.control_client import ControlClient
from pytest_plugin.records import RecordedRequest
from pytest_plugin.transport import MockAsyncTransport, MockTransport

_MATCH_FIELDS = frozenset(RequestMatch.model_fields)
MATCH_KEYWORDS = tuple(RequestMatch.model_fields)
ANSWER_KEYWORDS = tuple(name for name in ScriptedAnswer.model_fields if name != "output")
EFFECT_KEYWORDS = tuple(name for name in FaultSpec.model_fields if name not in ("name", "match", "times", "status"))
DEFAULT_API_KEY = "humanloop-mock-test-key"


class MockRequestError(AssertionError):
    """An assertion about what was sent to the mock did not hold; the message lists the journal."""


def _split_match(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate `RequestMatch` keywords (experiment_id, message, ...) from the rest."""
    match = {k: options.pop(k) for k in list(options) if k in _MATCH_FIELDS}
    return match, options


def _answer(value: str | Mapping[str, Any] | ScriptedAnswer) -> Any:
    """An answer as the spec takes it (anything else is left for the spec's validation to name)."""
    if isinstance(value, ScriptedAnswer):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, str):
        return {"output": value}
    return dict(value) if isinstance(value, Mapping) else value


def _answers(output: Any, answers: Any) -> Any:
    """`script(answers=...)`'s list (a string or number is left for the spec to name; never split)."""
    if output is not None:
        raise SpecError(["give output or answers, not both"], call_title("script"))
    listed = _items(answers)
    return [_answer(a) for a in listed] if isinstance(listed, list) else listed


def _items(values: Any, model: type | None = None) -> Any:
    """A list of plain items from any iterable of dicts or models (anything else is left for the
    spec's validation to name, e.g. a single dict where a list belongs)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return values
    return [_plain(v) if model is not None and isinstance(v, model) else (dict(v) if isinstance(v, Mapping) else v)
            for v in values]


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_unset=True) if dump is not None else value


def _count(call: str, keyword: str, value: Any, *, least: int) -> None:
    """A count given to an assertion is a whole number: `"1"` or `True` would never equal a count, so
    the assertion would fail (or pass) for the wrong reason."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SpecError([f"{keyword}: expected a whole number >= {least} (got {quoted(value)})"], call_title(call))


def _expect(call: str, keyword: str, value: Any, kind: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, kind):
        raise SpecError([f"{keyword}: expected {what}, got {quoted(value)}"], call_title(call))


@dataclass(frozen=True)
class RuleRef:
    """A script or fault added through the handle: its id and name, and its live use count."""

    kind: str
    id: str
    name: str
    _control: Any

    @property
    def used(self) -> int:
        """How many times it has been used so far (asks the mock)."""
        for rule in self._control.list_rules(self.kind):
            if rule["id"] == self.id:
                return int(rule["used"])
        return 0


class HumanloopMock:
    """A handle on a live mock. `base_url` is what the official SDK takes as `host`."""

    def __init__(self, control: ControlClient, base_url: str, *, api_key: str = DEFAULT_API_KEY,
                 app: Any = None, seed: int | None = None) -> None:
        self.control = control
        self.base_url = base_url
        self.api_key = api_key
        self.app = app  # the in-process app (None in remote mode)
        self.strict = False
        self._seed = seed

    @property
    def remote(self) -> bool:
        return self.app is None

    @property
    def seed(self) -> int:
        if self._seed is None:
            self._seed = int(self.control.info()["seed"])
        return self._seed

    @staticmethod
    def _control_call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a method of the control service; a refused call is a `ValueError` naming the key path and the
        problem."""
        try:
            return method(*args, **kwargs)
        except DomainError as failed:  # (a `ControlError`, or the world's own: `NotFound`, `Conflict`, ...)
            if failed.status in (404, 409, 422):
                raise SpecError(failed.problems, "humanloop-mock refused it") from None
            raise

    # --- setting up ------------------------------------------------------------------------------

    def reset(self, spec: Any = None) -> None:
        """Back to the base spec (or make `spec` the base): experiments, scripts, faults, counters, journal."""
        if spec is None:
            self._control_call(self.control.reset)
        else:
            self._control_call(self.control.load_spec, validate(MockSpec, _plain(spec), title=call_title("reset")),
                               replace=True)

    def load(self, spec: Any) -> dict[str, list[str]]:
        """Add everything a spec declares (the config-file shape) to what the mock knows; returns the ids."""
        return self._control_call(self.control.load_spec, validate(MockSpec, _plain(spec), title=call_title("load")))

    def replay(self, path: str | os.PathLike[str], *, speed: float = 0.0,
               ignore: Sequence[str] | None = None) -> dict[str, Any]:
        """Answer this test's API calls from a cassette (docs/recording.md): a request matching a recording
        gets its status, headers and bytes (a stream: the same events, at `speed` times the recorded pace;
        0 = no waiting); one matching none gets a 404 naming the nearest recordings, listed by
        `unexpected()`. `ignore`: top-level body fields matching skips (default `user`, `metadata`). In
        remote mode the path is read by the server. Until the next reset; returns what is loaded."""
        _expect("replay", "path", path, (str, os.PathLike), "a file path (str or Path)")
        location = str(path) if self.remote else str(Path(path).resolve())
        return self._control_call(self.control.load_cassette, {"path": location, "speed": speed,
                                                               "ignore": _items(ignore)})

    def violations(self) -> dict[str, Any]:
        """What the passive checker found in the upstream's answers (a server run with `--upstream`)."""
        return self._control_call(self.control.violations)

    @takes_keywords()
    def add_experiment(
        self,
        id: str | None = None,
        *,
        configs: Iterable[Mapping[str, Any] | ConfigSpec] = ({"model": "gpt-4o"},),
        name: str | None = None,
        project: str = "tests",
        project_id: str | None = None,
        positive_labels: Iterable[Mapping[str, str]] = (),
        sampling: str = "weighted",
    ) -> str:
        """Add an experiment with these configs (each may carry `weight`, `active` and `timing`); returns
        its id. `sampling="adaptive"` draws by Thompson sampling on the feedback (`positive_labels`)."""
        experiment = {
            "name": name or id or "experiment",
            "configs": _items(configs, ConfigSpec),
            "positive_labels": _items(positive_labels),
            "sampling": sampling,
        }
        if id is not None:
            experiment["id"] = id
        project_spec: dict[str, Any] = {"name": project, "experiments": [experiment]}
        if project_id is not None:
            project_spec["id"] = project_id
        spec = validate(MockSpec, {"projects": [project_spec]}, title=call_title("add_experiment"),
                        relocate=experiment_keywords)
        return self._control_call(self.control.load_spec, spec)["experiments"][0]

    def experiment_stats(self, experiment_id: str) -> dict[str, Any]:
        """An experiment's `status`, `sampling`, `draws`, `logs`, `feedback` and, per config in `configs`,
        `draws`, `trials_count`, `successes`, `failures`, `mean` and `spread` (docs/behaviour.md)."""
        return self._control_call(self.control.experiment, experiment_id)

    @takes_keywords(*ANSWER_KEYWORDS, *MATCH_KEYWORDS)
    def script(
        self,
        output: str | None = None,
        *,
        answers: Iterable[str | Mapping[str, Any]] | None = None,
        times: int | str | None = "default",
        name: str | None = None,
        **options: Any,
    ) -> RuleRef:
        """Answer matching samples with scripted text or tool calls instead of generated text.

        `output`, `tool_calls`, `finish_reason`, `usage`, `chunks` describe the answer; `answers`
        gives a sequence (one per use). Match with `experiment_id`, `config_id`, `message`,
        `message_regex`, `inputs`, `call`. `times`: 1 by default (or one per answer); None = always.
        """
        match, answer_fields = _split_match(dict(options))
        data: dict[str, Any] = {"match": match}
        if name is not None:
            data["name"] = name
        if answers is not None:
            data["answers"] = _answers(output, answers)
        else:
            if output is not None:
                answer_fields["output"] = output
            data["answer"] = _answer(answer_fields)
        if times != "default":
            data["times"] = times
        spec = validate(ScriptSpec, data, title=call_title("script"), relocate=drop_leading("match", "answer"))
        return self._add_rule("script", spec)

    @takes_keywords(*EFFECT_KEYWORDS, *MATCH_KEYWORDS)
    def fault(self, status: int | None = None, *, times: int | None = 1, name: str | None = None,
              **options: Any) -> RuleRef:
        """Break matching calls: `status` (with `retry_after`, `detail`), `latency`, `first_event_delay`,
        `event_delay`, `cut_after_events`, `malformed_event`, `reset`. Which calls: `call` (the nth since
        reset), `times` (the next N; None = always) and the match keywords (`experiment_id`, `message`, ...)."""
        match, effects = _split_match(dict(options))
        data: dict[str, Any] = {"match": match, "times": times, **effects}
        if status is not None:
            data["status"] = status
        if name is not None:
            data["name"] = name
        spec = validate(FaultSpec, data, title=call_title("fault"), relocate=drop_leading("match"))
        return self._add_rule("fault", spec)

    def _add_rule(self, kind: str, data: ScriptSpec | FaultSpec) -> RuleRef:
        created = self._control_call(self.control.add_rule, kind, data)
        return RuleRef(kind, created["id"], created["name"], self.control)

    def remove(self, rule: RuleRef) -> None:
        """Take a script or fault out of force."""
        _expect("remove", "rule", rule, RuleRef, "what script() or fault() returned")
        self._control_call(self.control.remove_rule, rule.kind, rule.id)

    # --- reaching it -----------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key}

    def transport(self) -> httpx.BaseTransport:
        """A sync httpx transport into the same app, in-process, streaming for real (a plain network
        transport in remote mode)."""
        return httpx.HTTPTransport() if self.remote else MockTransport(self.app)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport() if self.remote else MockAsyncTransport(self.app)

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
    def requests(self) -> list[RecordedRequest]:
        """Every request since the last reset, in order, whatever its fate."""
        return [RecordedRequest.from_dict(r) for r in self._control_call(self.control.requests)["requests"]]

    @takes_keywords(*MATCH_KEYWORDS)
    def chat_calls(self, **match: Any) -> list[RecordedRequest]:
        """Valid chat-experiment calls (answered or faulted), filtered by match keywords."""
        found = self._control_call(self.control.requests, {"chat": True, **match})
        return [RecordedRequest.from_dict(r) for r in found["requests"]]

    @property
    def last_chat(self) -> RecordedRequest:
        calls = self.chat_calls()
        if not calls:
            raise MockRequestError("no chat-experiment call was made.\n" + self.summary())
        return calls[-1]

    def summary(self) -> str:
        labels = {kind: {rule["name"]: rule.get("label", rule["name"])
                         for rule in self._control_call(self.control.list_rules, kind)}
                  for kind in ("script", "fault")}
        lines = [describe(e.as_dict(), labels) for e in self.requests] or ["(no requests)"]
        return "requests the mock received:\n  " + "\n  ".join(lines)

    @takes_keywords(*MATCH_KEYWORDS)
    def assert_called(self, times: int, **match: Any) -> list[RecordedRequest]:
        """Exactly `times` chat-experiment calls matched (`experiment_id=`, `message=`, ...)."""
        _count("assert_called", "times", times, least=0)
        calls = self.chat_calls(**match)
        if len(calls) != times:
            what = f" matching {match}" if match else ""
            raise MockRequestError(f"expected {times} chat-experiment call(s){what}, got {len(calls)}.\n"
                                   + self.summary())
        return calls

    def assert_sent(self, call: int | None = None, **expected: Any) -> dict[str, Any]:
        """The body of a chat call (the last, or the `call`-th) holds these top-level values."""
        _count("assert_sent", "call", call, least=1) if call is not None else None
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
        return [rule["problem"] + (f"\n    hint: {rule['hint']}" if rule.get("hint") else "")
                for rule in self._control_call(self.control.unused)]

    def unexpected(self) -> list[str]:
        """Requests the test did not plan for: client errors it did not inject, and, when the test
        scripted answers, samples no script answered."""
        return [f"{item['request']} ({item['reason']})" for item in self._control_call(self.control.unexpected)]

    def verify(self) -> None:
        """Raise `MockRequestError` listing unused scripts/faults and unexpected requests."""
        problems = self.unused() + self.unexpected()
        if problems:
            raise MockRequestError("humanloop-mock strict mode:\n  " + "\n  ".join(problems))
