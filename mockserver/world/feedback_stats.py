"""Feedback statistics: the log ids a chat answer hands out, the feedback applied to them, and what it
adds to each config's successes and failures (recounted when an experiment's labels or configs change).
Public methods take the state's lock (`store`); the rules of what counts are `world.feedback`.
"""

from __future__ import annotations

from contracts.feedback import FeedbackRequest
from mockserver.determinism import logical_time
from mockserver.sizes import estimate
from mockserver.world.feedback import apply_feedback, outcome
from mockserver.world.records import (
    Experiment,
    FeedbackApplied,
    Log,
    NotFound,
)
from mockserver.world.store import Store

FEEDBACK_BYTES = 512  # a rated log's record (`Log`) and one feedback value's place in it


class FeedbackStats(Store):
    """Logs, feedback and the statistics it makes (see the module doc)."""

    def new_logs(self, experiment_id: str, config_ids: list[str]) -> list[str]:
        """Log ids for a chat answer's samples (one per config drawn), remembered for feedback.

        The oldest logs are forgotten past `log_limit`, or when the byte budget needs their room; what
        their feedback added to the statistics stays."""
        with self._lock:
            ids, blocks = self._new_logs(experiment_id, config_ids)
        if blocks:
            self.logs.charge(blocks)  # without the lock: the budget may make room in any world
        return ids

    def _new_logs(self, experiment_id: str, config_ids: list[str]) -> tuple[list[str], int]:
        """`new_logs`' ids, and the blocks of logs the caller charges once it has let go of the lock."""
        experiment = self.experiments.get(experiment_id)
        if experiment is not None:
            experiment.logs += len(config_ids)
        new_id = self.streams.new_id
        ids = [new_id("data") for _ in config_ids]
        return ids, self.logs.remember(ids, experiment_id, config_ids)

    def submit_feedback(self, items: list[FeedbackRequest]) -> list[FeedbackApplied]:
        """`POST /feedback`: apply every item, or none when one names a log the mock does not know.

        Raises `NotFound` naming the first unknown `data_id` (and its position in a list)."""
        with self._lock:
            for position, item in enumerate(items):
                if item.data_id not in self.logs:
                    where = f" (item {position})" if len(items) > 1 else ""
                    raise NotFound(f"Datapoint {item.data_id} not found{where}: feedback needs the id of an answer "
                                   "this mock gave (a chat-experiment response's data[].id) since its last reset.")
            if self.held is not None:  # the values a log keeps are held: past the world's share, nothing applies
                budget, account = self.held
                budget.check(account, sum(FEEDBACK_BYTES + estimate(item.value) for item in items if not item.unset))
            self.tick += 1
            applied = []
            for item in items:
                log = self.logs.rated.get(item.data_id)
                if log is None:
                    log = self.logs.rated[item.data_id] = Log(*self.logs[item.data_id])
                apply_feedback(log.feedback, str(item.type), item.value, bool(item.unset))
                experiment = self.experiments.get(log.experiment_id)
                if experiment is not None:
                    experiment.feedback += 1
                    self._count(experiment, log)
                applied.append(FeedbackApplied(
                    self.streams.new_id("ann"), item.created_at or logical_time(self.tick), item.data_id,
                    log.experiment_id, log.config_id, log.counted,
                ))
            for data_id in {item.data_id for item in items}:  # what each rated log keeps now
                self._unhold(("feedback", data_id))
                self._hold(("feedback", data_id), FEEDBACK_BYTES + estimate(self.logs.rated[data_id].feedback),
                           force=True)
            return applied

    def _count(self, experiment: Experiment, log: Log) -> None:
        """Bring what `log` adds to its config's statistics up to date with its feedback."""
        entry = experiment.configs.get(log.config_id)
        new = outcome(log.feedback, experiment.positive_labels) if entry is not None else None
        if entry is None or new == log.counted:
            log.counted = new
            return
        if log.counted is True:
            entry.successes -= 1
        elif log.counted is False:
            entry.failures -= 1
        if new is True:
            entry.successes += 1
        elif new is False:
            entry.failures += 1
        log.counted = new
        entry.updated_tick = self.tick
        experiment.started = experiment.started or entry.trials_count > 0

    def _recount(self, experiment: Experiment) -> None:
        """Statistics from scratch, from the logs the mock remembers (after positive_labels or configs change)."""
        for entry in experiment.configs.values():
            entry.successes = entry.failures = 0
        for log in self.logs.rated.values():
            if log.experiment_id == experiment.id and log.feedback:
                log.counted = None
                self._count(experiment, log)
