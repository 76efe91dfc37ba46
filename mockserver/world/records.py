"""The records one tenant's world keeps (projects, configs, experiments, rated logs) and the errors its
state raises. Plain data: the state (`world.state`) changes them, under its lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from contracts.configs import ModelConfigFields
from contracts.experiments import PositiveLabel
from mockserver.errors import DomainError
from mockserver.spec.models import SamplingPolicy, TimingSpec
from mockserver.world.feedback import LogFeedback, posterior

_CONFIG_FIELD_NAMES = tuple(ModelConfigFields.model_fields)


class NotFound(DomainError, LookupError):
    """A project, experiment, config or log the request names does not exist."""

    status = 404


class Conflict(DomainError, ValueError):
    """A change that would silently replace something that exists (an experiment id taken), or a draw with
    nothing to draw from."""

    status = 409


@dataclass
class Project:
    id: str
    name: str
    tick: int
    active_experiment_id: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """A registered model config. Immutable: its id is derived from its content."""

    id: str
    project_id: str
    fields: ModelConfigFields
    fingerprint: str
    tick: int


@dataclass
class ExperimentConfig:
    """A config's place in one experiment: how it is drawn, how it is paced, and how it did."""

    config_id: str
    weight: float
    active: bool
    tick: int
    timing: TimingSpec | None = None
    draws: int = 0
    successes: int = 0
    failures: int = 0
    updated_tick: int = 0

    @property
    def trials_count(self) -> int:
        """Logs of this config whose feedback counts (see `mockserver.world.feedback`)."""
        return self.successes + self.failures

    def statistics(self) -> tuple[float | None, float | None]:
        """(mean, spread) of the success-rate posterior; (None, None) before any counted feedback."""
        if not self.trials_count:
            return None, None
        return posterior(self.successes, self.failures)


@dataclass
class Experiment:
    id: str
    project_id: str
    name: str
    positive_labels: list[PositiveLabel]
    configs: dict[str, ExperimentConfig]
    tick: int
    updated_tick: int
    provisioned: bool = False
    sampling: SamplingPolicy = "weighted"
    draws: int = 0
    logs: int = 0
    feedback: int = 0
    started: bool = False

    def active_configs(self) -> list[ExperimentConfig]:
        return [c for c in list(self.configs.values()) if c.active]

    @property
    def status(self) -> str:
        """`Initialized` until a log of the experiment first has counted feedback, then `In progress`."""
        return "In progress" if self.started else "Initialized"


@dataclass(slots=True)
class Log:
    """An answered sample (`data[].id`) that got feedback: its experiment config and that feedback.

    `counted` is what the log adds to its config's statistics now: True (a success), False (a
    failure) or None (nothing). Samples without feedback are kept as a bare (experiment, config)
    pair (`MockState.logs`): every answer makes one, so they must be cheap."""

    experiment_id: str
    config_id: str
    feedback: LogFeedback = field(default_factory=dict)
    counted: bool | None = None


@dataclass(frozen=True)
class FeedbackApplied:
    """What one feedback item did: its id and time, and the log's experiment, config and outcome."""

    id: str
    created_at: str
    data_id: str
    experiment_id: str
    config_id: str
    counted: bool | None


@dataclass(slots=True)
class ChatTarget:
    """What a chat call resolved to: its project, experiment and one drawn config per sample; and, given
    in the same transaction (`MockState.start_chat`), its samples' log ids."""

    project_id: str
    experiment_id: str
    configs: tuple[ModelConfig, ...]
    timings: tuple[TimingSpec | None, ...] = ()
    log_ids: list[str] = field(default_factory=list)


def config_fingerprint(fields: ModelConfigFields) -> str:
    """Canonical JSON of a config's model fields: equal configs, equal fingerprints."""
    data = fields.model_dump(mode="json", include=set(_CONFIG_FIELD_NAMES), by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
