"""`MockContext`: one tenant's world (its spec, state, scripts and faults, journal), plus what tenants share.

Without `--isolate-keys` a server has one; with it, one per `X-API-KEY` (see `tenants`). The memo
tables and the Faker are shared: they hold only pure functions of their keys and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.budget import ByteBudget
from mockserver.determinism import SeededFaker
from mockserver.journal import Journal
from mockserver.memo import Memo
from mockserver.pipeline.limits import SizeLimits
from mockserver.rules import RuleBook
from mockserver.settings import MockSettings
from mockserver.spec import MockSpec
from mockserver.state import MockState


@dataclass
class MockContext:
    settings: MockSettings
    memo: Memo = field(default_factory=Memo)
    faker: SeededFaker = field(default_factory=SeededFaker)
    spec: MockSpec = field(init=False)
    state: MockState = field(init=False)
    rules: RuleBook = field(init=False)
    journal: Journal = field(init=False)
    # The byte budget every world's journal shares with the memo tables (`Tenants` passes the server's).
    budget: ByteBudget | None = None
    size_limits: SizeLimits = field(init=False)

    def __post_init__(self) -> None:
        if self.budget is None:
            self.budget = ByteBudget(self.settings.max_kept_bytes)
        self.spec = self.settings.spec
        self.state = MockState(seed=self.settings.seed, max_provisioned=self.settings.max_provisioned,
                               log_limit=self.settings.log_limit,
                               # One world's logs are bounded by their count; many worlds' by the budget.
                               budget=self.budget if self.settings.isolate_keys else None)
        self.rules = RuleBook()
        self.journal = Journal(limit=self.settings.journal_limit, budget=self.budget)
        self.size_limits = SizeLimits(self.settings.max_prompt_bytes, self.settings.max_answer_bytes)
        self.reset()

    @property
    def seed(self) -> int:
        return self.settings.seed

    def load(self, spec: MockSpec) -> dict[str, list[str]]:
        """Add what a spec declares to the live world (not to the base spec `reset` returns to)."""
        created = self.state.load(spec)
        created["scripts"] = [self.rules.add_script(script).id for script in spec.scripts]
        created["faults"] = [self.rules.add_fault(fault).id for fault in spec.faults]
        return created

    def release(self) -> None:
        """This world is dropped (a tenant evicted): give back what its journal and logs held in the budget."""
        self.journal.clear()
        self.state.clear()

    def reset(self, spec: MockSpec | None = None) -> dict[str, list[str]]:
        """Back to the base spec (replaced by `spec` if given): state, counters, draws, rules and journal."""
        if spec is not None:
            self.spec = spec
        self.state.clear()
        self.rules.clear()
        self.journal.clear()
        return self.load(self.spec)
