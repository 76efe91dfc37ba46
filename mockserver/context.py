"""`MockContext`: the one object a running app keeps (settings, state, journal, Faker)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.budget import ByteBudget
from mockserver.determinism import SeededFaker
from mockserver.journal import Journal
from mockserver.pipeline.limits import SizeLimits
from mockserver.settings import MockSettings
from mockserver.state import MockState


@dataclass
class MockContext:
    settings: MockSettings
    state: MockState = field(init=False)
    journal: Journal = field(init=False)
    budget: ByteBudget = field(init=False)
    size_limits: SizeLimits = field(init=False)
    faker: SeededFaker = field(default_factory=SeededFaker)

    def __post_init__(self) -> None:
        self.budget = ByteBudget(self.settings.max_kept_bytes)  # shared by the journal and the memo tables
        self.state = MockState(seed=self.settings.seed, spec=self.settings.spec, budget=self.budget,
                               max_provisioned=self.settings.max_provisioned)
        self.journal = Journal(limit=self.settings.journal_limit, budget=self.budget)
        self.size_limits = SizeLimits(self.settings.max_prompt_bytes, self.settings.max_answer_bytes)

    def reset(self) -> None:
        """Back to the loaded spec, with an empty journal."""
        self.state.reset()
        self.journal.clear()
