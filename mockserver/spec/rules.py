"""Scripts and faults in force: the rule book of one tenant, and which rules a call uses.

A rule is a `ScriptSpec` or `FaultSpec` (the declarative model shared by config files, the fixture
and `/__admin`) plus how often it has been used since it was added. Every method takes the lock, so
the fixture's thread and the server's loop can both use it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from contracts.chat import ChatExperimentRequest
from contracts.messages import message_text
from mockserver.errors import DomainError
from mockserver.fixed_unicode import quoted
from mockserver.spec import regexes
from mockserver.spec.models import FaultSpec, RequestMatch, ScriptedAnswer, ScriptSpec

RuleKind = Literal["script", "fault"]
SpecT = TypeVar("SpecT", ScriptSpec, FaultSpec)


class UnknownRule(DomainError, LookupError):
    """No script or fault has this id."""

    status = 404


@dataclass
class Rule(Generic[SpecT]):
    """A script or fault in force: its id, the name reports use, its spec and its use count."""

    id: str
    name: str
    spec: SpecT
    used: int = 0
    kept: int = 0  # bytes its world holds for it in the byte budget (0: part of a spec's)

    @property
    def exhausted(self) -> bool:
        return self.spec.times is not None and self.used >= self.spec.times

    @property
    def unused(self) -> bool:
        """Used fewer times than it was set up for (never used, for one that applies always)."""
        return self.used == 0 or (self.spec.times is not None and self.used < self.spec.times)

    def label(self, kind: RuleKind) -> str:
        """What reports call it: `script-1 matching message='Capital'` (`script 'greeting' matching ...`
        when it was given a name), so a reader sees which rule without looking up its number."""
        who = f"{kind} {quoted(self.spec.name)}" if self.spec.name else self.name
        return f"{who} matching {describe_match(self.spec.match)}"

    def snapshot(self, kind: RuleKind) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": kind,
            "name": self.name,
            "label": self.label(kind),
            "match": describe_match(self.spec.match),
            "used": self.used,
            "times": self.spec.times,
            "spec": self.spec.model_dump(mode="json", exclude_none=True),
        }


def describe_match(match: RequestMatch) -> str:
    """What a rule matches, in the keyword form the fixture takes (`message='Capital'`), or 'every call'."""
    given = match.model_dump(exclude_none=True)
    return ", ".join(f"{key}={quoted(value)}" for key, value in given.items()) or "every call"


def last_user_text(request: ChatExperimentRequest) -> str:
    """The text of the last `user` message ('' if there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message_text(message)
    return ""


def call_matches(match: RequestMatch, request: ChatExperimentRequest, call: int | None) -> bool:
    """Whether a call satisfies every request-level condition of `match` (`config_id` is per sample)."""
    if match.call is not None and match.call != call:
        return False
    if match.experiment_id is not None and match.experiment_id != request.experiment_id:
        return False
    if match.message is not None or match.message_regex is not None:
        text = last_user_text(request)
        if match.message is not None and match.message not in text:
            return False
        if match.message_regex is not None and not regexes.search(match.message_regex, text):
            return False
    missing = object()
    return match.inputs is None or all(request.inputs.get(key, missing) == value
                                       for key, value in match.inputs.items())


def case_hint(match: RequestMatch, request: ChatExperimentRequest, call: int | None) -> str | None:
    """Why a `message`/`message_regex` rule missed a call it would have met ignoring case, or None.

    Matching is case-sensitive on purpose (it is what the text says); this only explains a miss."""
    if match.message is None and match.message_regex is None:
        return None
    text = last_user_text(request)
    relaxed = match.model_copy(update={"message": None, "message_regex": None})
    if not call_matches(relaxed, request, call):
        return None
    message, pattern = match.message, match.message_regex
    if (message is not None and message.lower() not in text.lower()) or \
            (pattern is not None and not regexes.search(pattern, text, ignore_case=True)):
        return None  # it would miss whatever the case
    shown = quoted(text if len(text) <= 60 else text[:57] + "...")
    if message is not None and message not in text:
        start = text.lower().find(message.lower())
        return (f"message= is case-sensitive: call #{call} ({shown}) has {quoted(text[start:start + len(message)])}; "
                f"message_regex={quoted('(?i)' + regexes.escape(message))} ignores case")
    if pattern is not None and not regexes.search(pattern, text):
        return (f"message_regex= is case-sensitive: call #{call} ({shown}) matches it only ignoring case; "
                "start the pattern with (?i) to ignore case")
    return None


class RuleBook:
    """The scripts and faults of one tenant, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.scripts: list[Rule[ScriptSpec]] = []
        self.faults: list[Rule[FaultSpec]] = []
        self._added = {"script": 0, "fault": 0}

    def clear(self) -> None:
        with self._lock:
            self.scripts = []
            self.faults = []
            self._added = {"script": 0, "fault": 0}

    def add_script(self, spec: ScriptSpec) -> Rule[ScriptSpec]:
        with self._lock:
            rule = Rule(*self._new_id("script", spec.name), spec)
            self.scripts = [*self.scripts, rule]
            return rule

    def add_fault(self, spec: FaultSpec) -> Rule[FaultSpec]:
        with self._lock:
            rule = Rule(*self._new_id("fault", spec.name), spec)
            self.faults = [*self.faults, rule]
            return rule

    def _new_id(self, kind: RuleKind, name: str | None) -> tuple[str, str]:
        """(id, name): the id is `script-1`, `fault-2`, ...; a rule given no name is called by its id,
        so the journal, the page, failure reports and the admin API all say the same word."""
        self._added[kind] += 1
        rule_id = f"{kind}-{self._added[kind]}"
        return rule_id, name or rule_id

    def remove(self, kind: RuleKind, rule_id: str) -> Rule[Any]:
        """Remove a rule; it is returned."""
        with self._lock:
            rules: list[Any] = self.scripts if kind == "script" else self.faults
            kept = [r for r in rules if r.id != rule_id]
            if len(kept) == len(rules):
                raise UnknownRule(f"No {kind} with id {quoted(rule_id)}.")
            if kind == "script":
                self.scripts = kept
            else:
                self.faults = kept
            return next(r for r in rules if r.id == rule_id)

    def patterns(self) -> list[str]:
        """The `message_regex` of every rule in force."""
        with self._lock:
            return [rule.spec.match.message_regex for rule in [*self.scripts, *self.faults]
                    if rule.spec.match.message_regex is not None]

    def snapshot(self, kind: RuleKind) -> list[dict[str, Any]]:
        with self._lock:
            rules: list[Any] = self.scripts if kind == "script" else self.faults
            return [rule.snapshot(kind) for rule in rules]

    def take_script(
        self, request: ChatExperimentRequest, call: int, config_id: str
    ) -> tuple[Rule[ScriptSpec], ScriptedAnswer] | None:
        """The first unexhausted script matching this sample, used once; None if none matches."""
        with self._lock:
            for script in self.scripts:
                match = script.spec.match
                if script.exhausted or (match.config_id is not None and match.config_id != config_id):
                    continue
                if call_matches(match, request, call):
                    answer = script.spec.answer_for(script.used)
                    script.used += 1
                    return script, answer
            return None

    def take_faults(self, request: ChatExperimentRequest, call: int) -> list[Rule[FaultSpec]]:
        """Every unexhausted fault matching this call, each counted as fired once."""
        with self._lock:
            fired = []
            for fault in self.faults:
                if not fault.exhausted and call_matches(fault.spec.match, request, call):
                    fault.used += 1
                    fired.append(fault)
            return fired
