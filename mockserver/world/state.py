"""What one tenant's mock remembers between requests: projects, configs, experiments and counters.

Every public method is a transaction: it takes the lock itself, so routes, the control service and the
fixture's thread never touch the dicts directly. All ids and timestamps come from the seed and
counters (see `determinism`), so the same sequence of requests gives the same state on any machine.
Scripts and faults live in `rules`, memo tables in `memo`, the journal in `journal`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from contracts.configs import ModelConfigFields
from contracts.experiments import PositiveLabel
from contracts.feedback import FeedbackRequest
from mockserver.determinism import KeyedStreams, logical_time, make_id
from mockserver.errors import DomainError
from mockserver.logsafe import printable
from mockserver.settings import DEFAULT_LOG_LIMIT
from mockserver.sizes import estimate
from mockserver.spec.draws import pick_thompson, pick_weighted
from mockserver.spec.models import MockSpec, SamplingPolicy, TimingSpec, provisioned_configs
from mockserver.world.budget import Account, ByteBudget, OverShare
from mockserver.world.feedback import LogFeedback, apply_feedback, outcome, posterior
from mockserver.world.log_ids import LogBook

log = logging.getLogger("humanloop_mock")

PROVISIONED_PROJECT_NAME = "provisioned"
# What one object created at runtime holds beyond its strings (measured with tracemalloc: an experiment
# and its config slots about 1.5 KB, a provisioned experiment with its two built-in configs about 5 KB).
OBJECT_BYTES = 2048
PROVISIONED_BYTES = 8192
FEEDBACK_BYTES = 512  # a rated log's record (`Log`) and one feedback value's place in it
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
    calls: int = 0  # chat calls to it, answered or refused by a fault (`count_call`)

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
    """What a chat call resolved to: its project, experiment and one drawn config per sample."""

    project_id: str
    experiment_id: str
    configs: tuple[ModelConfig, ...]
    timings: tuple[TimingSpec | None, ...] = ()


def config_fingerprint(fields: ModelConfigFields) -> str:
    """Canonical JSON of a config's model fields: equal configs, equal fingerprints."""
    data = fields.model_dump(mode="json", include=set(_CONFIG_FIELD_NAMES), by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass
class MockState:
    """The domain store of one tenant. Use its methods; they take `_lock` themselves."""

    seed: int
    projects: dict[str, Project] = field(default_factory=dict)
    configs: dict[str, ModelConfig] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)
    deleted_experiments: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    log_limit: int = DEFAULT_LOG_LIMIT
    budget: ByteBudget | None = None  # the server's byte budget, which remembered log ids are charged to
    tick: int = 0
    max_provisioned: int = 0  # provisioned experiments (and projects) kept at once; 0: no limit
    # The byte budget and this world's account in it: what the state creates at runtime (registered
    # configs, created and provisioned experiments and projects) is held there; None: not counted.
    held: tuple[ByteBudget, Account] | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    streams: KeyedStreams = field(init=False)
    logs: LogBook = field(init=False)  # the answers' log ids, for feedback (`log_ids`)
    # Ids provisioned on first use, least recently used first.
    _provisioned: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    _provisioned_projects: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    _held_sizes: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.streams = KeyedStreams(self.seed)
        account = self.held[1] if self.held is not None else None
        self.logs = LogBook(self.log_limit, self.budget, self._lock, account)
        self.logs.on_forget = lambda log_id: self._unhold(("feedback", log_id))  # a rated log forgotten

    # --- what runtime objects hold in the byte budget --------------------------------------------

    def _hold(self, key: tuple[str, str], size: int, *, force: bool = False) -> None:
        """Hold `size` bytes for a runtime object (`OverShare`, nothing held, past the world's share)."""
        if self.held is not None:
            budget, account = self.held
            budget.hold(account, "state", size, force=force)
            self._held_sizes[key] = self._held_sizes.get(key, 0) + size

    def _unhold(self, key: tuple[str, str]) -> None:
        size = self._held_sizes.pop(key, 0)
        if size and self.held is not None:
            budget, account = self.held
            budget.hold(account, "state", -size, force=True)

    # --- lifecycle -------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every project, config, experiment, counter and draw."""
        with self._lock:
            self.projects.clear()
            self.configs.clear()
            self.experiments.clear()
            self.deleted_experiments.clear()
            self.counters.clear()
            self._provisioned.clear()
            self._provisioned_projects.clear()
            self.logs.clear()
            if self.held is not None and self._held_sizes:
                budget, account = self.held
                budget.hold(account, "state", -sum(self._held_sizes.values()), force=True)
            self._held_sizes.clear()
            self.streams = KeyedStreams(self.seed)
            self.tick = 0

    def load(self, spec: MockSpec) -> dict[str, list[str]]:
        """Add the projects, experiments and configs a spec declares; returns the ids, in order.

        An experiment id that already exists is a `Conflict` (nothing is loaded then)."""
        created: dict[str, list[str]] = {"projects": [], "experiments": [], "configs": []}
        with self._lock:
            for project_spec in spec.projects:
                for exp_spec in project_spec.experiments:
                    if exp_spec.id is not None and exp_spec.id in self.experiments:
                        raise Conflict(f"experiment id {exp_spec.id!r} already exists; "
                                       "reset, or replace the whole spec, to redefine it")
            for project_spec in spec.projects:
                project = self._ensure_project(name=project_spec.name, project_id=project_spec.id)
                created["projects"].append(project.id)
                for exp_spec in project_spec.experiments:
                    experiment_id = exp_spec.id or make_id("exp", 0, project.id, exp_spec.name)
                    if experiment_id in self.experiments:
                        raise Conflict(f"experiment {exp_spec.name!r} (id {experiment_id}) already exists")
                    self._add_experiment(project.id, exp_spec.name, exp_spec.positive_labels,
                                         experiment_id=experiment_id, sampling=exp_spec.sampling)
                    created["experiments"].append(experiment_id)
                    for config_spec in exp_spec.configs:
                        config = self._register_config(config_spec, project.id, config_id=config_spec.id)
                        self._attach_config(experiment_id, config.id, config_spec.weight, config_spec.active,
                                            config_spec.timing)
                        created["configs"].append(config.id)
        return created

    # --- counters and ids ------------------------------------------------------------------------

    def next_tick(self) -> int:
        with self._lock:
            self.tick += 1
            return self.tick

    def next_call(self) -> int:
        """The number of this chat-experiment call since reset (1, 2, 3, ...)."""
        with self._lock:
            value = self.counters.get("chat-call", 0) + 1
            self.counters["chat-call"] = value
            return value

    def count_call(self, experiment_id: str) -> int | None:
        """Count a chat call to this experiment: its number among the experiment's calls (1, 2, ...), or
        None when no such experiment exists (nothing is provisioned here)."""
        with self._lock:
            experiment = self.experiments.get(experiment_id)
            if experiment is None:
                return None
            experiment.calls += 1
            return experiment.calls

    def new_id(self, prefix: str) -> str:
        """A fresh id, unique for this seed and call sequence (the nth id of its kind)."""
        with self._lock:
            return self.streams.new_id(prefix)

    # --- projects --------------------------------------------------------------------------------

    def ensure_project(self, *, name: str | None = None, project_id: str | None = None) -> Project:
        """The project with this id or name, created if it does not exist."""
        with self._lock:
            return self._ensure_project(name=name, project_id=project_id)

    def _ensure_project(self, *, name: str | None = None, project_id: str | None = None) -> Project:
        if project_id is not None and project_id in self.projects:
            return self.projects[project_id]
        if project_id is None and name is not None:
            for project in self.projects.values():
                if project.name == name:
                    return project
        new_id = project_id or make_id("pr", 0, "project", name)
        self.tick += 1
        project = Project(id=new_id, name=name or new_id, tick=self.tick)
        self.projects[new_id] = project
        return project

    def project(self, project_id: str) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise NotFound(f"Project {project_id} not found.") from None

    def experiments_of(self, project_id: str) -> list[Experiment]:
        with self._lock:
            project = self.project(project_id)
            return [e for e in self.experiments.values() if e.project_id == project.id]

    # --- configs ---------------------------------------------------------------------------------

    def register_config(
        self, fields: ModelConfigFields, project_id: str, *, config_id: str | None = None
    ) -> ModelConfig:
        """Register a config; the same content in the same project gets the same id back."""
        with self._lock:
            return self._register_config(fields, project_id, config_id=config_id)

    def _register_config(
        self, fields: ModelConfigFields, project_id: str, *, config_id: str | None = None
    ) -> ModelConfig:
        plain = ModelConfigFields.model_validate(fields.model_dump(include=set(_CONFIG_FIELD_NAMES)))
        fingerprint = config_fingerprint(plain)
        new_id = config_id or make_id("config", 0, project_id, fingerprint)
        existing = self.configs.get(new_id)
        if existing is not None and existing.fingerprint == fingerprint:
            return existing
        self.tick += 1
        config = ModelConfig(new_id, project_id, plain, fingerprint, self.tick)
        self.configs[new_id] = config
        return config

    def register_model_config(
        self, fields: ModelConfigFields, *, project_id: str | None, project_name: str | None,
        experiment: str | None,
    ) -> tuple[Project, ModelConfig, str | None]:
        """`POST /model-configs`: register to a project, and add to its experiment (by name or id) if named."""
        with self._lock:
            project = self.project(project_id) if project_id is not None else self._ensure_project(name=project_name)
            experiment_id = None
            if experiment is not None:
                found = next((e for e in self.experiments.values()
                              if e.project_id == project.id and experiment in (e.name, e.id)), None)
                if found is None:
                    raise NotFound(f"Experiment {experiment!r} not found in project {project.id}; "
                                   "create it first (POST /v4/projects/{project_id}/experiments).")
                experiment_id = found.id
            known = set(self.configs)
            config = self._register_config(fields, project.id)
            if config.id not in known:
                try:
                    self._hold(("config", config.id), OBJECT_BYTES + estimate(config.fields) + len(config.fingerprint))
                except OverShare:
                    del self.configs[config.id]
                    raise
            if experiment_id is not None and config.id not in self.experiments[experiment_id].configs:
                self._attach_config(experiment_id, config.id)
            return project, config, experiment_id

    def config(self, config_id: str) -> ModelConfig:
        try:
            return self.configs[config_id]
        except KeyError:
            raise NotFound(f"Model config {config_id} not found.") from None

    # --- experiments -----------------------------------------------------------------------------

    def create_experiment(
        self, project_id: str, name: str, positive_labels: list[PositiveLabel], *,
        config_ids: list[str] | None = None, set_active: bool = False,
    ) -> Experiment:
        """`POST /projects/{id}/experiments`: a new experiment with these (registered) configs."""
        with self._lock:
            project = self.project(project_id)
            for config_id in config_ids or []:
                self.config(config_id)
            experiment = self._add_experiment(project.id, name, positive_labels)
            try:
                self._hold(("experiment", experiment.id), OBJECT_BYTES * (1 + len(config_ids or []))
                           + estimate([name, positive_labels]))
            except OverShare:
                del self.experiments[experiment.id]
                raise
            for config_id in config_ids or []:
                self._attach_config(experiment.id, config_id)
            if set_active:
                project.active_experiment_id = experiment.id
            return experiment

    def _add_experiment(
        self, project_id: str, name: str, positive_labels: list[PositiveLabel], *,
        experiment_id: str | None = None, provisioned: bool = False, sampling: SamplingPolicy = "weighted",
    ) -> Experiment:
        new_id = experiment_id or self.streams.new_id("exp")
        self.tick += 1
        experiment = Experiment(
            new_id, project_id, name, list(positive_labels), {}, self.tick, self.tick, provisioned=provisioned,
            sampling=sampling,
        )
        self.experiments[new_id] = experiment
        self.deleted_experiments.discard(new_id)
        return experiment

    def _attach_config(self, experiment_id: str, config_id: str, weight: float = 1.0, active: bool = True,
                       timing: TimingSpec | None = None) -> None:
        experiment = self.experiment(experiment_id)
        self.config(config_id)
        self.tick += 1
        experiment.configs[config_id] = ExperimentConfig(config_id, weight, active, self.tick, timing,
                                                         updated_tick=self.tick)
        experiment.updated_tick = self.tick
        if experiment.logs:  # a config back in the experiment: its earlier logs count again
            self._recount(experiment)

    def update_experiment(
        self, experiment_id: str, *, name: str | None = None, positive_labels: list[PositiveLabel] | None = None,
        register: list[str] | None = None, deregister: list[str] | None = None,
    ) -> Experiment:
        """`PATCH /experiments/{id}`: checks everything first, then changes all of it."""
        with self._lock:
            experiment = self.experiment(experiment_id)
            for config_id in register or []:
                self.config(config_id)
            for config_id in deregister or []:
                if config_id not in experiment.configs:
                    raise NotFound(f"Model config {config_id} is not in experiment {experiment.id}.")
            if name is not None:
                experiment.name = name
            if positive_labels is not None:
                experiment.positive_labels = list(positive_labels)
                self._recount(experiment)
            for config_id in register or []:
                if config_id not in experiment.configs:
                    self._attach_config(experiment.id, config_id)
            for config_id in deregister or []:
                experiment.configs.pop(config_id, None)
            self.tick += 1
            experiment.updated_tick = self.tick
            return experiment

    def experiment(self, experiment_id: str) -> Experiment:
        try:
            return self.experiments[experiment_id]
        except KeyError:
            raise NotFound(f"Experiment {experiment_id} not found.") from None

    def experiment_for_use(self, experiment_id: str, *, strict: bool, project_hint: Project | None = None
                           ) -> Experiment:
        """The experiment a request samples from; unknown ids are provisioned unless `strict`."""
        with self._lock:
            if experiment_id in self.experiments:
                experiment = self.experiments[experiment_id]
                if experiment.provisioned:
                    self._touch_provisioned(self._provisioned, experiment_id)
                return experiment
            if strict or experiment_id in self.deleted_experiments:
                raise NotFound(f"Experiment {experiment_id} not found.")
            project = project_hint or self._ensure_project(name=PROVISIONED_PROJECT_NAME)
            experiment = self._add_experiment(
                project.id, experiment_id, [], experiment_id=experiment_id, provisioned=True
            )
            for index, spec in enumerate(provisioned_configs()):
                config_id = make_id("config", 0, "provisioned", experiment_id, index)
                config = self._register_config(spec, project.id, config_id=config_id)
                self._attach_config(experiment_id, config.id)
            self._hold_provisioned(experiment_id)
            self._touch_provisioned(self._provisioned, experiment_id)
            log.warning(
                "Unknown experiment %s: provisioned it with built-in configs %s (use --strict to get 404).",
                printable(experiment_id),
                ", ".join(experiment.configs),
            )
            return experiment

    def _hold_provisioned(self, experiment_id: str) -> None:
        """Hold what a just provisioned experiment keeps; past the world's share, the least recently used
        provisioned experiments are forgotten first, and only if that is not enough it is `OverShare`."""
        size = PROVISIONED_BYTES + 2 * estimate(experiment_id)
        while True:
            try:
                self._hold(("experiment", experiment_id), size)
                return
            except OverShare:
                others = [e for e in self._provisioned if e != experiment_id]
                if not others:
                    self._forget_experiment(experiment_id)
                    raise
                self._forget_experiment(others[0])

    def _project_for_use(self, *, project_id: str | None = None, name: str | None = None) -> Project:
        """The project a chat call names, provisioned if unknown (and counted like provisioned experiments)."""
        if project_id is not None:
            known = self.projects.get(project_id)
        else:
            known = next((p for p in self.projects.values() if p.name == name), None)
        if known is not None:
            if known.id in self._provisioned_projects:
                self._touch_provisioned(self._provisioned_projects, known.id)
            return known
        project = self._ensure_project(name=name, project_id=project_id)
        try:
            self._hold(("project", project.id), OBJECT_BYTES + 2 * estimate(project.id) + estimate(project.name))
        except OverShare:
            del self.projects[project.id]
            raise
        self._touch_provisioned(self._provisioned_projects, project.id)
        return project

    # --- forgetting what was provisioned ---------------------------------------------------------

    def _touch_provisioned(self, order: OrderedDict[str, None], key: str) -> None:
        """Mark `key` as just used; past `max_provisioned`, forget the least recently used."""
        if not self.max_provisioned:
            return
        order[key] = None
        order.move_to_end(key)
        while len(order) > self.max_provisioned:
            oldest = next(iter(order))
            if order is self._provisioned:
                self._forget_experiment(oldest)
            else:
                self._forget_project(oldest)

    def _forget_experiment(self, experiment_id: str) -> None:
        """Forget a provisioned experiment, its built-in configs (unless another experiment uses
        them) and its draw sequence: used again, it is provisioned afresh."""
        self._provisioned.pop(experiment_id, None)
        self._unhold(("experiment", experiment_id))
        experiment = self.experiments.pop(experiment_id, None)
        if experiment is None:
            return
        self.streams.forget("draw", experiment_id)
        still_used = {c for e in self.experiments.values() for c in e.configs}
        for config_id in experiment.configs:
            if config_id not in still_used:
                self.configs.pop(config_id, None)
                self._unhold(("config", config_id))
        project = self.projects.get(experiment.project_id)
        if project is not None and project.active_experiment_id == experiment_id:
            project.active_experiment_id = None

    def _forget_project(self, project_id: str) -> None:
        """Forget a provisioned project with the provisioned experiments in it. A project someone has
        since created experiments or registered configs in is kept (it is no longer just provisioned)."""
        self._provisioned_projects.pop(project_id, None)
        inside = [e for e in self.experiments.values() if e.project_id == project_id]
        built_in = {config_id for e in inside for config_id in e.configs}
        adopted = any(not e.provisioned for e in inside) or any(
            c.project_id == project_id and c.id not in built_in for c in self.configs.values())
        if adopted:
            return
        for experiment in inside:
            self._forget_experiment(experiment.id)
        self.projects.pop(project_id, None)
        self._unhold(("project", project_id))

    def delete_experiment(self, experiment_id: str) -> None:
        with self._lock:
            self.experiment(experiment_id)
            del self.experiments[experiment_id]
            self._unhold(("experiment", experiment_id))
            self.deleted_experiments.add(experiment_id)
            for project in self.projects.values():
                if project.active_experiment_id == experiment_id:
                    project.active_experiment_id = None

    # --- draws -----------------------------------------------------------------------------------

    def draw_config(self, experiment_id: str) -> ModelConfig | None:
        """Draw one active config from the experiment's own seeded sequence (None if it has none)."""
        entry = self._draw(experiment_id)
        return None if entry is None else self.configs[entry.config_id]

    def _draw(self, experiment_id: str) -> ExperimentConfig | None:
        """The experiment's next draw, by its sampling policy, from its own seeded stream."""
        with self._lock:
            return self._draw_from(self.experiment(experiment_id))

    def _draw_from(self, experiment: Experiment) -> ExperimentConfig | None:
        active = experiment.active_configs()
        if not active:
            return None
        rng = self.streams.stream("draw", experiment.id)
        if experiment.sampling == "adaptive":
            chosen = pick_thompson(rng, active)
        else:
            chosen = pick_weighted(rng.random(), active)
        experiment.draws += 1
        chosen.draws += 1
        return chosen

    def resolve_chat(
        self, *, experiment_id: str, project_id: str | None, project_name: str | None, strict: bool,
        num_samples: int,
    ) -> ChatTarget:
        """A chat call's project and experiment (provisioned if unknown, unless `strict`) and its draws.

        Raises `NotFound` for unknown ids under `strict`, and `Conflict` when there is nothing to draw."""
        with self._lock:
            project: Project | None = None
            if project_id is not None:
                project = self.project(project_id) if strict else self._project_for_use(project_id=project_id)
            elif project_name is not None:
                project = self._project_for_use(name=project_name)
            experiment = self.experiment_for_use(experiment_id, strict=strict, project_hint=project)
            configs, timings = [], []
            for _ in range(num_samples):
                entry = self._draw_from(experiment)
                if entry is None:
                    raise Conflict(f"Experiment {experiment.id} has no active model configs to sample from.")
                configs.append(self.configs[entry.config_id])
                timings.append(entry.timing)
            return ChatTarget(project.id if project is not None else experiment.project_id, experiment.id,
                              tuple(configs), tuple(timings))

    # --- logs and feedback -----------------------------------------------------------------------

    def new_logs(self, experiment_id: str, config_ids: list[str]) -> list[str]:
        """Log ids for a chat answer's samples (one per config drawn), remembered for feedback.

        The oldest logs are forgotten past `log_limit`, or when the byte budget needs their room; what
        their feedback added to the statistics stays."""
        with self._lock:
            experiment = self.experiments.get(experiment_id)
            if experiment is not None:
                experiment.logs += len(config_ids)
            new_id = self.streams.new_id
            ids = [new_id("data") for _ in config_ids]
            blocks = self.logs.remember(ids, experiment_id, config_ids)
        if blocks:
            self.logs.charge(blocks)  # without the lock: the budget may make room in any world
        return ids

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

    def experiment_summaries(self) -> list[dict[str, Any]]:
        """Every live experiment (from the spec, created at runtime or provisioned) with its configs,
        their weights, how often each was drawn since reset and its feedback statistics, as plain data
        (for `/__admin/experiments`)."""
        with self._lock:
            return [self._experiment_summary(experiment) for experiment in self.experiments.values()]

    def experiment_summary(self, experiment_id: str) -> dict[str, Any]:
        """One experiment as `experiment_summaries` lists it (`NotFound` if there is none)."""
        with self._lock:
            return self._experiment_summary(self.experiment(experiment_id))

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
