"""`MockContext`: one tenant's world (its spec, state, scripts and faults, journal, memo tables), and its
account in the server's byte budget.

Without `--isolate-keys` a server has one; with it, one per `X-API-KEY` (see `tenants`). The Faker is
shared: it holds nothing between uses (it is reseeded for each). Everything else a world keeps is its
own and charged to its account (`budget`): a fixed overhead for being there, its own spec, the scripts
and faults added to it, what its state creates at runtime, and its journal, memo and log entries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mockserver.determinism import SeededFaker
from mockserver.settings import MockSettings
from mockserver.sizes import estimate
from mockserver.spec.models import FaultSpec, MockSpec, ScriptSpec
from mockserver.spec.rules import Rule, RuleBook, RuleKind
from mockserver.world.budget import Account, ByteBudget
from mockserver.world.heavy import Turns
from mockserver.world.journal import Journal
from mockserver.world.memo import Memo
from mockserver.world.state import MockState

# What a world costs before it keeps anything: its objects, the state loaded from a small spec and the
# tables its first requests create (measured: about 11 KB fresh, up to about 42 KB after a few calls).
WORLD_BYTES = 48 * 1024
# A spec is held twice over: the validated model (what a reset returns to) and the live state loaded
# from it (a config's fingerprint copies its template). `estimate` counts each generously already.
SPEC_COPIES = 2
RULE_OVERHEAD = 512  # a rule's own object, its id and name strings


@dataclass
class MockContext:
    settings: MockSettings
    faker: SeededFaker = field(default_factory=SeededFaker)
    # The byte budget every world shares (`Tenants` passes the server's); one of its own if not given.
    budget: ByteBudget | None = None
    # What being a world costs, charged as held bytes: `WORLD_BYTES` plus the state the server's own spec
    # loads into it (`Tenants` measures that once).
    world_bytes: int = WORLD_BYTES
    # Turns for work that grows with a client's input (`heavy`), shared by every world of a server.
    turns: Turns = field(default_factory=Turns)
    account: Account = field(init=False)
    memo: Memo = field(init=False)
    spec: MockSpec = field(init=False)
    state: MockState = field(init=False)
    rules: RuleBook = field(init=False)
    journal: Journal = field(init=False)
    last_used: float = field(default=0.0, init=False)  # `time.monotonic()` of its last request
    # A cassette loaded for this world (the fixture's `replay`, `POST /__admin/cassette`): it answers the
    # world's API requests before the server's own `--replay` or `--upstream` (`proxy.traffic`).
    replay: Any = field(default=None, init=False)
    _own_spec_bytes: int = field(default=0, init=False)  # held for a spec given to this world only
    _added_spec_bytes: int = field(default=0, init=False)  # held for specs added since the last reset

    def __post_init__(self) -> None:
        if self.budget is None:
            self.budget = ByteBudget(self.settings.max_kept_bytes)
        self.account = self.budget.account()
        self.budget.hold(self.account, "world", self.world_bytes, force=True)
        self.memo = Memo(budget=self.budget, account=self.account)
        self.spec = self.settings.spec
        self.state = MockState(seed=self.settings.seed, max_provisioned=self.settings.max_provisioned,
                               log_limit=self.settings.log_limit, held=(self.budget, self.account),
                               # One world's logs are bounded by their count; many worlds' by the budget.
                               budget=self.budget if self.settings.isolate_keys else None)
        self.rules = RuleBook()
        self.journal = Journal(limit=self.settings.journal_limit, budget=self.budget, account=self.account)
        self.last_used = time.monotonic()
        self.reset()

    @property
    def seed(self) -> int:
        return self.settings.seed

    def load(self, spec: MockSpec) -> dict[str, list[str]]:
        """Add what a spec declares to the live world (not to the base spec `reset` returns to); held
        until the next reset. `OverShare` (nothing added) past the world's share of the budget."""
        cost = SPEC_COPIES * estimate(spec)
        self._hold("spec", cost)
        try:
            created = self._load(spec)
        except Exception:
            self._hold("spec", -cost)
            raise
        self._added_spec_bytes += cost
        return created

    def _load(self, spec: MockSpec) -> dict[str, list[str]]:
        created = self.state.load(spec)
        created["scripts"] = [self.rules.add_script(script).id for script in spec.scripts]
        created["faults"] = [self.rules.add_fault(fault).id for fault in spec.faults]
        return created

    def add_rule(self, kind: RuleKind, spec: ScriptSpec | FaultSpec) -> Rule[ScriptSpec] | Rule[FaultSpec]:
        """A script or fault added to the world, held until removed or reset (`OverShare` past its share)."""
        size = RULE_OVERHEAD + estimate(spec)
        self._hold("rules", size)
        rule: Rule[ScriptSpec] | Rule[FaultSpec]
        rule = self.rules.add_script(spec) if kind == "script" else self.rules.add_fault(spec)  # type: ignore[arg-type]
        rule.kept = size
        return rule

    def remove_rule(self, kind: RuleKind, rule_id: str) -> None:
        removed = self.rules.remove(kind, rule_id)
        self._hold("rules", -removed.kept)

    def release(self) -> None:
        """This world is dropped (a tenant evicted): give back everything it kept and held."""
        self.journal.clear()
        self.state.clear()
        self.memo.clear()
        assert self.budget is not None
        self.budget.close(self.account)

    def reset(self, spec: MockSpec | None = None) -> dict[str, list[str]]:
        """Back to the base spec (replaced by `spec` if given): state, counters, draws, rules and journal.
        A new spec past the world's share of the budget is `OverShare`, and nothing changes."""
        assert self.budget is not None
        held = self.account.by_kind
        if spec is not None and spec is not self.spec:
            cost = 0 if spec is self.settings.spec else SPEC_COPIES * estimate(spec)
            # After the reset the world holds its overhead and this spec: its old spec(s), rules and
            # runtime state are given back.
            self.budget.check(self.account, cost - held["spec"] - held["rules"] - held["state"])
            self._hold("spec", cost - held["spec"], force=True)
            self._added_spec_bytes = 0
            self._own_spec_bytes = cost
            self.spec = spec
        else:
            self._hold("spec", -self._added_spec_bytes, force=True)
            self._added_spec_bytes = 0
        self.state.clear()
        self._hold("rules", -held["rules"], force=True)
        self.rules.clear()
        self.journal.clear()
        return self._load(self.spec)

    def check_cassette(self, size: int) -> None:
        """`OverShare` if a cassette keeping `size` bytes could not be held, this world's own cassette let go."""
        assert self.budget is not None
        self.budget.check(self.account, size - self.account.by_kind["cassette"])

    def use_cassette(self, replay: Any, size: int, *, force: bool = False) -> None:
        """`replay` answers this world's API requests, held as `size` bytes in place of its cassette before
        (`OverShare` past the world's share: nothing changes; with `force`, counted all the same)."""
        self._hold("cassette", size - self.account.by_kind["cassette"], force=force)
        self.replay = replay

    def let_go_of_cassette(self) -> None:
        """This world's own cassette no longer answers, and what it held is given back."""
        self._hold("cassette", -self.account.by_kind["cassette"], force=True)
        self.replay = None

    def _hold(self, kind: str, size: int, *, force: bool = False) -> None:
        """Hold `size` more bytes of `kind` (`OverShare` past the world's share, unless `force`)."""
        assert self.budget is not None
        self.budget.hold(self.account, kind, size, force=force)
