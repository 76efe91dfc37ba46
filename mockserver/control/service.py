"""The control service: everything that can be done to a running mock, as plain data in and out.

Load or replace a spec, add, list and remove scripts and faults, query and count the journal, list
unused rules and unexpected requests, reset, and what the whole server keeps. Every method takes and
returns JSON-shaped values (dicts, lists, strings, numbers), never live state objects, so its clients
can sit anywhere: the pytest fixture calls it in-process, the `/__admin` routes serve it over HTTP
(`door`, made from the table in `operations`), and the remote-mode fixture and the journal page call
those routes. A feature added here, and a row in the table, reaches every door at once.

What it cannot do is a `DomainError`: a `ControlError` (a spec too large, a body that is not a spec),
or the world's own (`NotFound`, `Conflict`, `UnknownRule`), each with the status HTTP answers for it.
The operations that read the whole journal also come as `*_steps` generators, which yield between
entries: the HTTP door runs them in turns (`world.heavy`), in-process callers all at once.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from mockserver.control.models import CassetteLoad
from mockserver.control.reports import (
    JournalPage,
    RequestFilter,
    RequestListing,
    call_hint,
    chat_request,
    unexpected_report,
    unused_report,
)
from mockserver.errors import DomainError
from mockserver.proxy.checking import ViolationBook
from mockserver.proxy.taping import ReplaySource, loaded_cassette_bytes
from mockserver.recording import CassetteError, MatchRules
from mockserver.recording.store import side_path
from mockserver.spec import regexes
from mockserver.spec.errors import SpecError, validate
from mockserver.spec.models import FaultSpec, MockSpec, ScriptSpec
from mockserver.spec.rules import Rule, RuleKind, last_user_text
from mockserver.world.budget import OverShare
from mockserver.world.context import MockContext
from mockserver.world.journal import JournalQuery

if TYPE_CHECKING:
    from mockserver.proxy.traffic import Traffic
    from mockserver.world.tenants import Tenants

T = TypeVar("T")
Steps = Generator[Any, Any, T]  # yields None between steps (or work for a thread: `Turns.steps`), returns the result

# Projects, experiments, configs, scripts and faults one spec sent to a running server may declare: a
# reset loads its spec again, about 20 µs per item, so this keeps any reset well under 100 ms.
MAX_SPEC_ITEMS = 2000
# The largest cassette file a tenant may load over the admin API (`load_cassette`): it is read whole, and
# held while loaded, outside the byte budget.
MAX_CASSETTE_BYTES = 64 * 1024 * 1024


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
    projects = data.get("projects")
    for project in projects if isinstance(projects, list) else []:
        experiments = project.get("experiments") if isinstance(project, dict) else None
        for experiment in experiments if isinstance(experiments, list) else []:
            configs = experiment.get("configs") if isinstance(experiment, dict) else None
            count += 1 + (len(configs) if isinstance(configs, list) else 0)
    return count


def all_at_once(steps: Steps[T]) -> T:
    """What a `*_steps` generator returns, run without pause (work it yields for a thread runs here)."""
    result: Any = None
    while True:
        try:
            work = steps.send(result)
        except StopIteration as done:
            return done.value
        result = work() if work is not None else None


class ControlError(DomainError):
    """A control call that cannot be done: `status` as HTTP would say it, `problems` for a person (a 422's
    problems are each an item of its detail, as a config file's would be)."""

    def __init__(self, status: int, problems: list[str]) -> None:
        detail: Any = " ".join(problems)
        if status == 422:
            detail = [{"loc": ["body"], "msg": problem, "type": "value_error.spec"} for problem in problems]
        super().__init__(detail)
        self.args = ("\n".join(problems),)
        self.status = status
        self._problems = problems

    @property
    def problems(self) -> list[str]:
        return self._problems


class MockControl:
    """The control service over one tenant's world (`MockContext`)."""

    def __init__(self, context: MockContext, tenants: Tenants | None = None) -> None:
        self.context = context
        self.tenants = tenants  # the server's worlds (for `server`)

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
        except OverShare as full:
            raise ControlError(413, [f"Spec not loaded: {full.reason}."]) from None

    def get_spec(self) -> dict[str, Any]:
        """The base spec: what `reset` returns to."""
        return self.context.spec.model_dump(mode="json", exclude_none=True)

    def reset(self) -> dict[str, list[str]]:
        """Journal, counters, draws, scripts and faults back to the base spec; a cassette loaded for this
        world is let go, and the server's `--replay` cassette starts over."""
        self.context.let_go_of_cassette()
        traffic = self._traffic
        if traffic is not None:
            traffic.rewind()
        return self.context.reset()

    # --- recordings and the passive checker (docs/recording.md) ----------------------------------

    @property
    def _traffic(self) -> Traffic | None:
        return getattr(self.tenants, "traffic", None)

    def violations(self) -> dict[str, Any]:
        """What the passive checker found in the upstream's answers, grouped by check."""
        traffic = self._traffic
        if traffic is None:
            return {"checking": False, **ViolationBook().to_json()}
        return traffic.violations()

    def load_cassette(self, data: dict[str, Any]) -> dict[str, Any]:
        """Answer this world's API requests from a cassette (a path on the server's machine)."""
        load = self._validate(CassetteLoad, data, "")
        rules = MatchRules(ignore=tuple(load.ignore)) if load.ignore is not None else MatchRules()
        file_bytes = 0
        for path in (load.path, str(side_path(load.path))):
            with contextlib.suppress(OSError):  # (a missing file is the loader's to name)
                found = os.stat(path)
                if not stat.S_ISREG(found.st_mode):  # a device, pipe or /proc file: its size says nothing
                    raise ControlError(422, [f"{path}: not a regular file"])
                if found.st_size > MAX_CASSETTE_BYTES:
                    raise ControlError(413, [f"{path}: over {MAX_CASSETTE_BYTES} bytes, more than a cassette loaded "
                                             "over the admin API may hold (serve --replay has no such limit)"])
                file_bytes += found.st_size
        # What it keeps is held by the world. A tenant of a shared server (`--isolate-keys`) is held to its
        # share: checked from the file's size before a byte is read, then from what was loaded, value by
        # value. A server of one world counts it (`/__admin/server`) and makes room for it, refusing none.
        shared_server = self.context.settings.isolate_keys
        try:
            if shared_server:
                self.context.check_cassette(loaded_cassette_bytes(file_bytes))
            source = ReplaySource.load(load.path, speed=load.speed, rules=rules)
            self.context.use_cassette(source, source.held_bytes(file_bytes, walk=shared_server),
                                      force=not shared_server)
        except CassetteError as bad:
            raise ControlError(422, [str(bad)]) from None
        except OverShare as full:
            raise ControlError(413, [f"Cassette not loaded: {full.reason}."]) from None
        return self.cassette()

    def cassette(self) -> dict[str, Any]:
        """The cassette answering this world: its own, else the server's `--replay` (404 without one)."""
        source, scope = self.context.replay, "tenant"
        if source is None and self._traffic is not None:
            source, scope = self._traffic.replay, "server"
        if source is None:
            raise ControlError(404, ["No cassette is loaded (POST /__admin/cassette, or serve --replay FILE)."])
        return {**source.status(), "scope": scope}

    def unload_cassette(self) -> None:
        """Let go of this world's own cassette (the server's `--replay` stays)."""
        self.context.let_go_of_cassette()

    # --- experiments -----------------------------------------------------------------------------

    def experiments(self) -> list[dict[str, Any]]:
        """Live experiments with their configs, weights, draws since reset and feedback statistics,
        including experiments created at runtime (`POST /v4/projects/{id}/experiments`) or provisioned
        on first use."""
        return self.context.state.experiment_summaries()

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        """One experiment as `experiments` lists it (`NotFound` if there is none)."""
        return self.context.state.experiment_summary(experiment_id)

    # --- scripts and faults ----------------------------------------------------------------------

    def add_rule(self, kind: RuleKind, data: ScriptSpec | FaultSpec | dict[str, Any]) -> dict[str, Any]:
        """Put a script or fault in force; its `id` and `name`."""
        spec = self._validate(ScriptSpec if kind == "script" else FaultSpec, data, "")
        try:
            rule = self.context.add_rule(kind, spec)
        except OverShare as full:
            raise ControlError(413, [f"{kind.capitalize()} not added: {full.reason}."]) from None
        return {"id": rule.id, "name": rule.name}

    def list_rules(self, kind: RuleKind) -> list[dict[str, Any]]:
        return self.context.rules.snapshot(kind)

    def remove_rule(self, kind: RuleKind, rule_id: str) -> None:
        """Take a script or fault out of force (`UnknownRule` if there is no such rule)."""
        self.context.remove_rule(kind, rule_id)

    # --- the journal -----------------------------------------------------------------------------

    def requests(self, filters: RequestFilter | dict[str, Any] | None = None) -> dict[str, Any]:
        """`{"total": N, "requests": [...], "rule_labels": {"script": {...}, "fault": {...}}}`: the entries
        that match, oldest first (`total` before `limit`), and what reports call each script or fault
        they name (rules still set up)."""
        return all_at_once(self.requests_steps(filters)).as_dict()

    def requests_steps(self, filters: RequestFilter | dict[str, Any] | None = None) -> Steps[JournalPage]:
        wanted = self._validate(RequestFilter, filters or {}, "")
        listing = RequestListing(JournalQuery(experiment_id=wanted.experiment_id, path=wanted.path,
                                              status=wanted.status, since=wanted.since),
                                 wanted.chat_match(), wanted.limit, self.labels())
        entries = self.context.journal.entries()
        decided: list[bool | str] = []
        for entry in entries:
            decided.append(listing.decides(entry))
            yield
        texts = [found for found in decided if isinstance(found, str)]  # left to `message_regex`: matched apart
        if texts:
            matched = iter((yield from regexes.search_each(listing.pattern or "", texts)))
            decided = [found if isinstance(found, bool) else next(matched) for found in decided]
        selected = [entry for entry, keep in zip(entries, decided, strict=True) if keep]
        shown = listing.limited(selected)
        return JournalPage(len(selected), shown, listing.rule_labels(shown))

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
        return all_at_once(self.unused_steps())

    def unused_steps(self) -> Steps[list[dict[str, Any]]]:
        rules = self.context.rules
        unused: list[tuple[RuleKind, Rule[Any]]] = [
            (kind, rule) for kind, in_force in (("script", rules.scripts), ("fault", rules.faults))
            for rule in in_force if rule.unused]  # type: ignore[misc]
        calls = []
        for entry in self.context.journal.entries():
            calls.append((entry, chat_request(entry)))
            yield
        hints: dict[int, str] = {}
        for _, rule in unused:
            pattern = rule.spec.match.message_regex
            for entry, request in calls:
                if pattern is not None and request is not None and \
                        2 * regexes.steps(pattern, last_user_text(request), ignore_case=True) > regexes.INLINE_STEPS:
                    continue  # a case hint is looked for only where matching is cheap (it runs on the event loop)
                hint = call_hint(rule, entry, request)
                yield
                if hint is not None:
                    hints[id(rule)] = hint
                    break
        return [unused_report(rule, kind, hints.get(id(rule))) for kind, rule in unused]

    def unexpected(self) -> list[dict[str, Any]]:
        """Requests nobody planned for: client errors no fault injected, and, when scripts are set up,
        chat samples no script answered."""
        return all_at_once(self.unexpected_steps())

    def unexpected_steps(self) -> Steps[list[dict[str, Any]]]:
        scripted, labels = bool(self.context.rules.scripts), self.labels()
        found = []
        for entry in self.context.journal.entries():
            item = unexpected_report(entry, scripted, labels)
            if item is not None:
                found.append(item)
            yield
        return found

    # --- the server ------------------------------------------------------------------------------

    def server(self) -> dict[str, Any]:
        """What the whole server keeps (the byte budget by kind, its tenants), and this world's own share of
        it. Nothing in it tells one tenant what another sent: memo tables are per world."""
        if self.tenants is None:
            raise ControlError(404, ["This control service was made for one world alone: it knows no server."])
        tenants, context = self.tenants, self.context
        return {"kept": tenants.budget.snapshot(),
                "tenant": {**context.account.snapshot(), "memo": context.memo.sizes()},
                "tenants": tenants.count(), "max_tenants": tenants.max_tenants, "tenants_evicted": tenants.evicted,
                "tenants_refused": tenants.refused}

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _validate(model: type[Any], data: Any, prefix: str) -> Any:
        try:
            return validate(model, data, prefix)
        except SpecError as invalid:
            raise ControlError(422, invalid.problems) from None
