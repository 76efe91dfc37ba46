"""What the control service reports about a world's journal and rules: which requests a filter selects, how
a request is described in one line, which rules went unused (and a hint why), which requests nobody
planned for. Plain functions of journal entries and rules, so the service can take them one at a time
(in turns, over HTTP) or all at once (in-process)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError

from contracts.base import ClosedWireModel, JsonInt
from contracts.chat import ChatExperimentRequest
from mockserver.fixed_unicode import quoted
from mockserver.spec import regexes
from mockserver.spec.models import RequestMatch
from mockserver.spec.regexes import Pattern
from mockserver.spec.rules import Rule, RuleKind, call_matches, case_hint, last_user_text
from mockserver.world.journal import JournalEntry, JournalQuery

CHAT_PATH = "/v4/chat-experiment"
# Statuses that mean the client sent something the mock could not take (what `unexpected` lists).
CLIENT_ERRORS = frozenset({400, 401, 404, 405, 408, 409, 413, 415, 422, 431})





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


def call_hint(rule: Rule[Any], entry: JournalEntry, request: ChatExperimentRequest | None) -> str | None:
    if request is None or not drew_config(entry, rule.spec.match):
        return None
    return case_hint(rule.spec.match, request, entry.call)


def unused_report(rule: Rule[Any], kind: RuleKind, hint: str | None) -> dict[str, Any]:
    """An unused rule as `unused` lists it, with the `hint` found for it (`call_hint`), if any."""
    snapshot = rule.snapshot(kind)
    times = snapshot["times"]
    verb = "answered" if kind == "script" else "fired"
    snapshot["problem"] = f"{snapshot['label']} {verb} {snapshot['used']} of {times if times is not None else 'any'} " \
                          "time(s)"
    snapshot["hint"] = hint
    return snapshot


def unexpected_report(entry: JournalEntry, scripted: bool, labels: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    """An entry as `unexpected` lists it, or None when it was expected."""
    if entry.unexpected is not None:
        reason = f"no recording matched: {entry.unexpected}"
    elif entry.status in CLIENT_ERRORS and not entry.faults:
        reason = f"error: {entry.error}"
    elif scripted and entry.path == CHAT_PATH and any(s[4] is None for s in entry.sample_records):
        reason = "no script matched"
    else:
        return None
    return {"seq": entry.seq, "reason": reason, "request": describe(entry.as_dict(), labels)}


@dataclass(frozen=True)
class RequestListing:
    """What a listing of the journal (`MockControl.requests`) selects: the filter's query and chat match,
    its limit, and what reports call each rule (to name the rules the shown entries name)."""

    query: JournalQuery
    match: RequestMatch | None
    limit: int | None
    labels: dict[str, dict[str, str]]

    def selects(self, entry: JournalEntry) -> bool:
        decided = self.decides(entry)
        return decided if isinstance(decided, bool) else regexes.search(self.pattern or "", decided)

    @property
    def pattern(self) -> str | None:
        """The filter's `message_regex`, if it has one."""
        return self.match.message_regex if self.match is not None else None

    @functools.cached_property
    def _without_pattern(self) -> RequestMatch | None:
        return self.match.model_copy(update={"message_regex": None}) if self.match is not None else None

    def decides(self, entry: JournalEntry) -> bool | str:
        """Whether the entry is selected, or, when every other condition holds and only `message_regex`
        is left, the text it must be found in (the caller matches it: it may be long)."""
        if not self.query.selects(entry):
            return False
        if self.match is None:
            return True
        if self.pattern is None:
            return chat_call_matches(entry, self.match)
        request = chat_request(entry)
        if request is None or not drew_config(entry, self.match) or \
                not call_matches(self._without_pattern, request, entry.call):  # type: ignore[arg-type]
            return False
        return last_user_text(request)

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


@dataclass(frozen=True)
class JournalPage:
    """A listing's result: how many entries it selected (before its limit), the entries shown, and what
    reports call the rules they name. Its records are written when it is sent (`as_dict`, or one entry
    at a time as JSON by the HTTP door)."""

    total: int
    shown: list[JournalEntry]
    rule_labels: dict[str, dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "requests": [entry.as_dict() for entry in self.shown],
                "rule_labels": self.rule_labels}


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
    status = record["status"] if record.get("status") is not None else "no answer"  # (a reset, a client gone)
    parts = [f"#{record['seq']} {record['method']} {record['path']} -> {status}"]
    if body.get("experiment_id"):
        parts.append(f"experiment={body['experiment_id']}")
    if last is not None:
        parts.append(f"last message={quoted(str(last)[:60])}")
    if record.get("faults"):
        parts.append("faults=[" + ", ".join(faults.get(name, name) for name in record["faults"]) + "]")
    scripted = [s["script"] for s in record.get("samples", []) if s.get("script")]
    if scripted:
        parts.append("scripts=[" + ", ".join(scripts.get(name, name) for name in scripted) + "]")
    return " ".join(parts)
