"""The control service: everything that can be done to a running mock, as plain data in and out.

Load or replace a spec, add, list and remove scripts and faults, query and count the journal, list
unused rules and unexpected requests, reset. Every method takes and returns JSON-shaped values
(dicts, lists, strings, numbers), never live state objects, so its clients can sit anywhere: the
pytest fixture calls it in-process, the `/__admin` routes serve it over HTTP, and the remote-mode
fixture and the journal page call those routes. A feature added here reaches every door at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError

from contracts.base import ClosedWireModel, JsonInt
from contracts.chat import ChatExperimentRequest
from mockserver.spec.errors import SpecError, validate
from mockserver.spec.models import FaultSpec, MockSpec, RequestMatch, ScriptSpec
from mockserver.spec.regexes import Pattern
from mockserver.spec.rules import Rule, RuleKind, UnknownRule, call_matches, case_hint
from mockserver.world.budget import OverShare
from mockserver.world.context import MockContext
from mockserver.world.journal import JournalEntry, JournalQuery
from mockserver.world.state import Conflict, NotFound

CHAT_PATH = "/v4/chat-experiment"
# Projects, experiments, configs, scripts and faults one spec sent to a running server may declare: a
# reset loads its spec again, about 20 µs per item, so this keeps any reset well under 100 ms.
MAX_SPEC_ITEMS = 2000


def spec_items(data: Any) -> int:
    """How many projects, experiments, configs, scripts and faults a spec's JSON declares (0 if it does
    not have that shape: validation says what is wrong then)."""
    if not isinstance(data, dict):
        return 0
    count = 0
    for key in ("scripts", "faults", "projects"):
        items = data.get(key)
        if isinstance(items, list):
            count += len(items)
    for project in data.get("projects") or []:
        experiments = project.get("experiments") if isinstance(project, dict) else None
        for experiment in experiments if isinstance(experiments, list) else []:
            configs = experiment.get("configs") if isinstance(experiment, dict) else None
            count += 1 + (len(configs) if isinstance(configs, list) else 0)
    return count
CLIENT_ERRORS = frozenset({400, 401, 404, 405, 408, 409, 413, 415, 422, 431})


class ControlError(Exception):
    """A control call that cannot be done: `status` as HTTP would say it, `problems` for a person."""

    def __init__(self, status: int, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.status = status
        self.problems = problems


class RequestFilter(ClosedWireModel):
    """Which journal entries to list. Every given filter must hold.

    `chat`: only valid chat-experiment calls; the match fields (`message`, `message_regex`, `inputs`,
    `config_id`, `call`) select chat calls as scripts and faults would (they imply `chat`)."""

    experiment_id: str | None = None
    path: str | None = None
    status: JsonInt | None = Field(default=None, ge=100, le=599)
    since: JsonInt | None = Field(default=None, ge=-1, description="Only entries with a larger `seq`.")
    limit: JsonInt | None = Field(default=None, ge=0, description="At most this many (the newest).")
    chat: bool = False
    message: str | None = None
    message_regex: Pattern | None = None
    inputs: dict[str, Any] | None = None
    config_id: str | None = None
    call: JsonInt | None = Field(default=None, ge=1)

    def chat_match(self) -> RequestMatch | None:
        fields = {k: getattr(self, k) for k in ("message", "message_regex", "inputs", "config_id", "call")}
        given = {k: v for k, v in fields.items() if v is not None}
        if not (self.chat or given):
            return None
        return RequestMatch.model_validate({**given, "experiment_id": self.experiment_id})


def chat_request(entry: JournalEntry) -> ChatExperimentRequest | None:
    """The chat-experiment request a journal entry holds, or None if it is not a valid chat call."""
    if entry.path != CHAT_PATH or entry.call is None:
        return None
    try:
        return ChatExperimentRequest.model_validate(entry.body)
    except ValidationError:
        return None


def drew_config(entry: JournalEntry, match: RequestMatch) -> bool:
    return match.config_id is None or any(s[2] == match.config_id for s in entry.sample_records)


def chat_call_matches(entry: JournalEntry, match: RequestMatch) -> bool:
    """Whether a journaled request is a valid chat call that `match` selects."""
    request = chat_request(entry)
    return request is not None and drew_config(entry, match) and call_matches(match, request, entry.call)


def rule_hint(rule: Rule[Any], calls: list[tuple[JournalEntry, ChatExperimentRequest | None]]) -> str | None:
    """A reason an unused rule missed a call, when it only missed by letter case (`calls`: each journal
    entry with its chat request, None when it is not a valid chat call)."""
    for entry, request in calls:
        hint = call_hint(rule, entry, request)
        if hint is not None:
            return hint
    return None


def call_hint(rule: Rule[Any], entry: JournalEntry, request: ChatExperimentRequest | None) -> str | None:
    if request is None or not drew_config(entry, rule.spec.match):
        return None
    return case_hint(rule.spec.match, request, entry.call)


def unused_report(rule: Rule[Any], kind: RuleKind, calls: list[tuple[JournalEntry, ChatExperimentRequest | None]],
                  hint: str | bool | None = False) -> dict[str, Any]:
    """An unused rule as `unused` lists it; `hint` if already found (False: look for it in `calls`)."""
    snapshot = rule.snapshot(kind)
    times = snapshot["times"]
    verb = "answered" if kind == "script" else "fired"
    snapshot["problem"] = f"{snapshot['label']} {verb} {snapshot['used']} of {times if times is not None else 'any'} " \
                          "time(s)"
    snapshot["hint"] = rule_hint(rule, calls) if hint is False else hint
    return snapshot


def unexpected_report(entry: JournalEntry, scripted: bool, labels: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    """An entry as `unexpected` lists it, or None when it was expected."""
    if entry.status in CLIENT_ERRORS and not entry.faults:
        reason = f"error: {entry.error}"
    elif scripted and entry.path == CHAT_PATH and any(s[4] is None for s in entry.sample_records):
        reason = "no script matched"
    else:
        return None
    return {"seq": entry.seq, "reason": reason, "request": describe(entry.as_dict(), labels)}


@dataclass(frozen=True)
class RequestListing:
    """One listing of the journal (`MockControl.requests`): the entries, which are selected, how many are
    shown, and what reports call the rules they name. Each step takes one entry at a time, so a caller
    can take them in turns (`heavy`)."""

    entries: list[JournalEntry]
    query: JournalQuery
    match: RequestMatch | None
    limit: int | None
    labels: dict[str, dict[str, str]]

    def selects(self, entry: JournalEntry) -> bool:
        return self.query.selects(entry) and (self.match is None or chat_call_matches(entry, self.match))

    def limited(self, selected: list[JournalEntry]) -> list[JournalEntry]:
        """The newest `limit` of the selected entries (all of them without a limit)."""
        if self.limit is None:
            return selected
        return selected[-self.limit:] if self.limit else []

    def rule_labels(self, shown: list[JournalEntry]) -> dict[str, dict[str, str]]:
        named = {"script": {record[4] for entry in shown for record in entry.sample_records},
                 "fault": {name for entry in shown for name in entry.faults}}
        return {kind: {name: self.labels[kind][name] for name in sorted(named[kind] & self.labels[kind].keys())}
                for kind in ("script", "fault")}


def describe(record: dict[str, Any], labels: dict[str, dict[str, str]] | None = None) -> str:
    """One line per journaled request: what a person needs to see which call went wrong.

    `labels` maps each kind (`script`, `fault`) to its rules' names and what reports call them
    (`fault-1 matching call=2`)."""
    labels = labels or {}
    faults, scripts = labels.get("fault", {}), labels.get("script", {})
    body = record.get("body") if isinstance(record.get("body"), dict) else {}
    assert isinstance(body, dict)
    messages = body.get("messages") or []
    last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else None
    parts = [f"#{record['seq']} {record['method']} {record['path']} -> {record['status']}"]
    if body.get("experiment_id"):
        parts.append(f"experiment={body['experiment_id']}")
    if last is not None:
        parts.append(f"last message={str(last)[:60]!r}")
    if record.get("faults"):
        parts.append("faults=[" + ", ".join(faults.get(name, name) for name in record["faults"]) + "]")
    scripted = [s["script"] for s in record.get("samples", []) if s.get("script")]
    if scripted:
        parts.append("scripts=[" + ", ".join(scripts.get(name, name) for name in scripted) + "]")
    return " ".join(parts)


class MockControl:
    """The control service over one tenant's world (`MockContext`)."""

    def __init__(self, context: MockContext) -> None:
        self.context = context

    # --- the spec --------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        settings = self.context.settings
        return {
            "seed": settings.seed,
            "strict": settings.strict,
            "isolate_keys": settings.isolate_keys,
            "state": self.context.state.summary(),
            "scripts": len(self.context.rules.scripts),
            "faults": len(self.context.rules.faults),
            "journal": len(self.context.journal.entries()),
            "journal_next_seq": self.context.journal.next_seq,
            "journal_epoch": self.context.journal.epoch,
        }

    def load_spec(self, data: MockSpec | dict[str, Any], *, replace: bool = False) -> dict[str, list[str]]:
        """Add a spec to the live world (`replace=False`), or make it the base spec and reset to it.

        Returns the ids it created: projects, experiments, configs, scripts, faults (in order)."""
        items = spec_items(data)
        if items > MAX_SPEC_ITEMS:
            raise ControlError(413, [f"The spec declares {items} projects, experiments, configs, scripts and faults, "
                                     f"over this server's limit of {MAX_SPEC_ITEMS} for a spec sent to it."])
        spec = self._validate(MockSpec, data, "")
        try:
            if replace:
                return self.context.reset(spec)
            return self.context.load(spec)
        except Conflict as conflict:
            raise ControlError(409, [str(conflict)]) from None
        except OverShare as full:
            raise ControlError(413, [f"Spec not loaded: {full.detail}."]) from None

    def get_spec(self) -> dict[str, Any]:
        """The base spec: what `reset` returns to."""
        return self.context.spec.model_dump(mode="json", exclude_none=True)

    def reset(self) -> dict[str, list[str]]:
        """Journal, counters, draws, scripts and faults back to the base spec."""
        return self.context.reset()

    # --- experiments -----------------------------------------------------------------------------

    def experiments(self) -> list[dict[str, Any]]:
        """Live experiments with their configs, weights, draws since reset and feedback statistics,
        including experiments created at runtime (`POST /v4/projects/{id}/experiments`) or provisioned
        on first use."""
        return self.context.state.experiment_summaries()

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        """One experiment as `experiments` lists it (a 404 `ControlError` if there is none)."""
        try:
            return self.context.state.experiment_summary(experiment_id)
        except NotFound as missing:
            raise ControlError(404, [str(missing)]) from None

    # --- scripts and faults ----------------------------------------------------------------------

    def add_rule(self, kind: RuleKind, data: ScriptSpec | FaultSpec | dict[str, Any]) -> dict[str, Any]:
        spec = self._validate(ScriptSpec if kind == "script" else FaultSpec, data, "")
        try:
            rule = self.context.add_rule(kind, spec)
        except OverShare as full:
            raise ControlError(413, [f"{kind.capitalize()} not added: {full.detail}."]) from None
        return rule.snapshot(kind)

    def list_rules(self, kind: RuleKind) -> list[dict[str, Any]]:
        return self.context.rules.snapshot(kind)

    def remove_rule(self, kind: RuleKind, rule_id: str) -> None:
        try:
            self.context.remove_rule(kind, rule_id)
        except UnknownRule as missing:
            raise ControlError(404, [str(missing)]) from None

    # --- the journal -----------------------------------------------------------------------------

    def requests(self, filters: RequestFilter | dict[str, Any] | None = None) -> dict[str, Any]:
        """`{"total": N, "requests": [...], "rule_labels": {"script": {...}, "fault": {...}}}`: the entries
        that match, oldest first (`total` before `limit`), and what reports call each script or fault
        they name (rules still set up)."""
        listing = self.request_listing(filters)
        selected = [entry for entry in listing.entries if listing.selects(entry)]
        shown = listing.limited(selected)
        return {"total": len(selected), "requests": [entry.as_dict() for entry in shown],
                "rule_labels": listing.rule_labels(shown)}

    def request_listing(self, filters: RequestFilter | dict[str, Any] | None = None) -> RequestListing:
        """What `requests` lists, step by step, for a caller that takes the entries in turns (`/__admin`)."""
        wanted = self._validate(RequestFilter, filters or {}, "")
        query = JournalQuery(experiment_id=wanted.experiment_id, path=wanted.path, status=wanted.status,
                             since=wanted.since)
        return RequestListing(self.context.journal.entries(), query, wanted.chat_match(), wanted.limit, self.labels())

    def clear_requests(self) -> None:
        self.context.journal.clear()

    # --- what a strict test fails on -------------------------------------------------------------

    def labels(self) -> dict[str, dict[str, str]]:
        """Kind -> rule name -> what reports call it (`script-1 matching message='Capital'`); by kind,
        as a script and a fault may be given the same name."""
        rules = self.context.rules
        return {"script": {rule.name: rule.label("script") for rule in rules.scripts},
                "fault": {rule.name: rule.label("fault") for rule in rules.faults}}

    def unused(self) -> list[dict[str, Any]]:
        """Scripts and faults used fewer times than they were set up for, each with a `problem`
        sentence naming it by its match, and a `hint` when it missed a call only by letter case."""
        rules = self.unused_rules()
        calls = [(entry, chat_request(entry)) for entry in self.context.journal.entries()]
        return [unused_report(rule, kind, calls) for kind, rule in rules]

    def unused_rules(self) -> list[tuple[RuleKind, Rule[Any]]]:
        rules = self.context.rules
        return [(kind, rule) for kind, in_force in (("script", rules.scripts), ("fault", rules.faults))
                for rule in in_force if rule.unused]  # type: ignore[misc]

    def unexpected(self) -> list[dict[str, Any]]:
        """Requests nobody planned for: client errors no fault injected, and, when scripts are set up,
        chat samples no script answered."""
        scripted, labels = bool(self.context.rules.scripts), self.labels()
        found = [unexpected_report(entry, scripted, labels) for entry in self.context.journal.entries()]
        return [item for item in found if item is not None]

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _validate(model: type[Any], data: Any, prefix: str) -> Any:
        try:
            return validate(model, data, prefix)
        except SpecError as invalid:
            raise ControlError(422, invalid.problems) from None
