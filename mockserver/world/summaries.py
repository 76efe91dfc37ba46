"""The state as plain data for `/__admin`: each experiment with its configs, weights, draws and feedback
statistics, and the counts of what the world holds. Each takes the state's lock (`store`).
"""

from __future__ import annotations

from typing import Any

from mockserver.world.records import (
    Experiment,
)
from mockserver.world.store import Store


class Summaries(Store):
    """Views of the state for `/__admin` (see the module doc)."""

    def experiment_summaries(self) -> list[dict[str, Any]]:
        """Every live experiment (from the spec, created at runtime or provisioned) with its configs,
        their weights, how often each was drawn since reset and its feedback statistics, as plain data
        (for `/__admin/experiments`)."""
        with self._lock:
            return [self._experiment_summary(experiment) for experiment in self.experiments.values()]

    def experiment_summary(self, experiment_id: str) -> dict[str, Any]:
        """One experiment as `experiment_summaries` lists it (`NotFound` if there is none)."""
        with self._lock:
            return self._experiment_summary(self._experiment(experiment_id))

    def _experiment_summary(self, experiment: Experiment) -> dict[str, Any]:
        active_weight = sum(entry.weight for entry in experiment.configs.values() if entry.active)
        configs = []
        for entry in experiment.configs.values():
            config = self.configs.get(entry.config_id)
            mean, spread = entry.statistics()
            configs.append({
                "id": entry.config_id,
                "name": config.fields.name if config is not None else None,
                "model": config.fields.model if config is not None else None,
                "weight": entry.weight,
                "active": entry.active,
                "share": entry.weight / active_weight if entry.active and active_weight else 0.0,
                "draws": entry.draws,
                "trials_count": entry.trials_count,
                "successes": entry.successes,
                "failures": entry.failures,
                "mean": mean,
                "spread": spread,
                "timing": entry.timing.model_dump(mode="json", exclude_none=True) if entry.timing else None,
            })
        return {"id": experiment.id, "name": experiment.name, "project_id": experiment.project_id,
                "provisioned": experiment.provisioned, "status": experiment.status, "sampling": experiment.sampling,
                "positive_labels": [label.model_dump() for label in experiment.positive_labels],
                "draws": experiment.draws, "logs": experiment.logs, "feedback": experiment.feedback,
                "configs": configs}

    def summary(self) -> dict[str, Any]:
        """Counts of what this state holds (for the admin API)."""
        with self._lock:
            return {"projects": len(self.projects), "experiments": len(self.experiments),
                    "configs": len(self.configs), "chat_calls": self.counters.get("chat-call", 0),
                    "logs": len(self.logs)}
