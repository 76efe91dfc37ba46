"""What one tenant's mock remembers between requests: projects, configs, experiments and counters.

`MockState` is made of one part per job, each its own module: the store and its lock (`store`), the
experiments API and spec loading (`experiments`), what a chat call uses (`provisioning`), feedback
statistics (`feedback_stats`) and views for `/__admin` (`summaries`). One locking rule holds for all of
them: a public method takes the lock itself, a private one expects it held (`store`'s doc).

All ids and timestamps come from the seed and counters (see `determinism`), so the same sequence of
requests gives the same state on any machine. Scripts and faults live in `rules`, memo tables in `memo`,
the journal in `journal`.
"""

from __future__ import annotations

from mockserver.world.feedback_stats import FEEDBACK_BYTES, FeedbackStats
from mockserver.world.provisioning import PROVISIONED_BYTES, PROVISIONED_PROJECT_NAME, Provisioning
from mockserver.world.records import (
    ChatTarget,
    Conflict,
    Experiment,
    ExperimentConfig,
    FeedbackApplied,
    Log,
    ModelConfig,
    NotFound,
    Project,
    config_fingerprint,
)
from mockserver.world.store import OBJECT_BYTES
from mockserver.world.summaries import Summaries

__all__ = [
    "FEEDBACK_BYTES", "OBJECT_BYTES", "PROVISIONED_BYTES", "PROVISIONED_PROJECT_NAME", "ChatTarget", "Conflict",
    "Experiment", "ExperimentConfig", "FeedbackApplied", "Log", "MockState", "ModelConfig", "NotFound", "Project",
    "config_fingerprint",
]


class MockState(Provisioning, FeedbackStats, Summaries):
    """The domain state of one tenant (see the module doc)."""

    def start_chat(self, *, experiment_id: str, project_id: str | None, project_name: str | None, strict: bool,
                   num_samples: int) -> ChatTarget:
        """A chat call's state, in one transaction: its target (`resolve_chat`, whose `NotFound` and
        `Conflict` it raises) and its samples' log ids (`new_logs`)."""
        with self._lock:
            target = self._resolve_chat(experiment_id, project_id, project_name, strict, num_samples)
            target.log_ids, blocks = self._new_logs(target.experiment_id, [config.id for config in target.configs])
        if blocks:
            self.logs.charge(blocks)  # without the lock: the budget may make room in any world
        return target
