"""What the mock remembers between requests: projects, configs, experiments, and its counters.

All ids and timestamps come from the seed and counters (see `determinism`), so the same sequence of
requests gives the same state on any machine. `reset()` returns to the loaded spec.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from contracts.configs import ModelConfigFields
from contracts.experiments import PositiveLabel
from mockserver.budget import ByteBudget
from mockserver.determinism import KeyedStreams, make_id
from mockserver.spec import FaultSpec, MockSpec, ScriptSpec, provisioned_configs

log = logging.getLogger("humanloop_mock")
RuleSpec = TypeVar("RuleSpec", ScriptSpec, FaultSpec)

PROVISIONED_PROJECT_NAME = "provisioned"
MEMO_LIMIT = 4096  # entries per memo table; a full table is cleared, not grown
MEMO_OVERHEAD = 512  # bytes charged per memo entry beyond its own size estimate (dict slot, key tuple)
_CONFIG_FIELD_NAMES = tuple(ModelConfigFields.model_fields)


class NotFound(LookupError):
    """A project, experiment or config the request names does not exist."""


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
    config_id: str
    weight: float
    active: bool
    tick: int
    trials_count: int = 0


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
    draws: int = 0

    def active_configs(self) -> list[ExperimentConfig]:
        return [c for c in self.configs.values() if c.active]


@dataclass
class ActiveRule(Generic[RuleSpec]):
    """A script or fault in force, and how many times it has been used since it was added."""

    key: str
    spec: RuleSpec
    used: int = 0

    @property
    def exhausted(self) -> bool:
        return self.spec.times is not None and self.used >= self.spec.times


ActiveScript = ActiveRule[ScriptSpec]
ActiveFault = ActiveRule[FaultSpec]


def config_fingerprint(fields: ModelConfigFields) -> str:
    """Canonical JSON of a config's model fields: equal configs, equal fingerprints."""
    data = fields.model_dump(mode="json", include=set(_CONFIG_FIELD_NAMES), by_alias=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass
class MockState:
    """The store behind every route. Mutate it only while holding `lock`."""

    seed: int
    spec: MockSpec
    projects: dict[str, Project] = field(default_factory=dict)
    configs: dict[str, ModelConfig] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)
    deleted_experiments: set[str] = field(default_factory=set)
    scripts: list[ActiveScript] = field(default_factory=list)
    faults: list[ActiveFault] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    tick: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    caches: dict[str, dict[Any, Any]] = field(default_factory=dict)
    budget: ByteBudget | None = None
    max_provisioned: int = 0  # 0: no limit
    streams: KeyedStreams = field(init=False)
    # memo table -> key -> budget token; experiment/project ids provisioned, least recently used first
    _memo_tokens: dict[str, dict[Any, int]] = field(default_factory=dict, repr=False)
    _provisioned: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    _provisioned_projects: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------------

    def reset(self, spec: MockSpec | None = None) -> None:
        """Forget everything and load `spec` (or the spec this state was built with)."""
        with self.lock:
            if spec is not None:
                self.spec = spec
            self.projects.clear()
            self.configs.clear()
            self.experiments.clear()
            self.deleted_experiments.clear()
            self.scripts.clear()
            self.faults.clear()
            self.counters.clear()
            self._clear_memo()
            self._provisioned.clear()
            self._provisioned_projects.clear()
            self.streams = KeyedStreams(self.seed)
            self.tick = 0
            self.load(self.spec)

    def load(self, spec: MockSpec) -> None:
        """Add the projects, experiments and configs a spec declares."""
        with self.lock:
            for project_spec in spec.projects:
                project = self.ensure_project(name=project_spec.name, project_id=project_spec.id)
                for exp_spec in project_spec.experiments:
                    experiment_id = exp_spec.id or make_id("exp", 0, project.id, exp_spec.name)
                    self.add_experiment(
                        project.id, exp_spec.name, exp_spec.positive_labels, experiment_id=experiment_id
                    )
                    for config_spec in exp_spec.configs:
                        config = self.register_config(config_spec, project.id, config_id=config_spec.id)
                        self.attach_config(experiment_id, config.id, config_spec.weight, config_spec.active)
            for script in spec.scripts:
                self.add_script(script)
            for fault in spec.faults:
                self.add_fault(fault)

    def add_script(self, spec: ScriptSpec) -> ActiveScript:
        with self.lock:
            script = ActiveRule(spec.name or f"script #{len(self.scripts) + 1}", spec)
            self.scripts.append(script)
            return script

    def add_fault(self, spec: FaultSpec) -> ActiveFault:
        with self.lock:
            fault = ActiveRule(spec.name or f"fault #{len(self.faults) + 1}", spec)
            self.faults.append(fault)
            return fault

    # --- counters and ids ------------------------------------------------------------------------

    def next_tick(self) -> int:
        self.tick += 1
        return self.tick

    def count(self, namespace: str) -> int:
        """The next value of a named counter (0, 1, 2, ...)."""
        value = self.counters.get(namespace, 0)
        self.counters[namespace] = value + 1
        return value

    def new_id(self, prefix: str) -> str:
        """A fresh id, unique for this seed and call sequence (the nth id of its kind)."""
        return self.streams.new_id(prefix)

    def memoised(self, table: str, key: Any, compute: Callable[[], Any],
                 size: Callable[[Any], int] | None = None) -> Any:
        """`compute()` once per key until the next reset. Only for pure, deterministic results.

        `size(value)` estimates the bytes the entry keeps (key included) for the byte budget it
        shares with the journal; without it, a fixed small size is charged.
        """
        memo = self.caches.setdefault(table, {})
        try:
            return memo[key]
        except KeyError:
            pass
        value = compute()
        if len(memo) >= MEMO_LIMIT:
            self._clear_memo(table)
            memo = self.caches.setdefault(table, {})
        memo[key] = value
        if self.budget is not None:
            charged = MEMO_OVERHEAD + (size(value) if size is not None else 0)
            self._memo_tokens.setdefault(table, {})[key] = self.budget.charge(self, (table, key), charged)
        return value

    def forget(self, key: tuple[str, Any]) -> None:
        """Drop a memo entry to make room in the byte budget (`Keeper`)."""
        table, memo_key = key
        with self.lock:
            self.caches.get(table, {}).pop(memo_key, None)
            self._memo_tokens.get(table, {}).pop(memo_key, None)

    def _clear_memo(self, table: str | None = None) -> None:
        tables = [table] if table is not None else list(self.caches)
        tokens: list[int] = []
        for name in tables:
            self.caches.pop(name, None)
            tokens.extend(self._memo_tokens.pop(name, {}).values())
        if self.budget is not None:
            self.budget.release_many(tokens)

    # --- projects --------------------------------------------------------------------------------

    def ensure_project(self, *, name: str | None = None, project_id: str | None = None) -> Project:
        """The project with this id or name, created if it does not exist."""
        with self.lock:
            if project_id is not None and project_id in self.projects:
                return self.projects[project_id]
            if project_id is None and name is not None:
                for project in self.projects.values():
                    if project.name == name:
                        return project
            new_id = project_id or make_id("pr", 0, "project", name)
            project = Project(id=new_id, name=name or new_id, tick=self.next_tick())
            self.projects[new_id] = project
            return project

    def project(self, project_id: str) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise NotFound(f"Project {project_id} not found.") from None

    def project_by_name(self, name: str) -> Project | None:
        return next((p for p in self.projects.values() if p.name == name), None)

    # --- configs ---------------------------------------------------------------------------------

    def register_config(
        self, fields: ModelConfigFields, project_id: str, *, config_id: str | None = None
    ) -> ModelConfig:
        """Register a config; the same content in the same project gets the same id back."""
        plain = ModelConfigFields.model_validate(fields.model_dump(include=set(_CONFIG_FIELD_NAMES)))
        fingerprint = config_fingerprint(plain)
        with self.lock:
            new_id = config_id or make_id("config", 0, project_id, fingerprint)
            existing = self.configs.get(new_id)
            if existing is not None and existing.fingerprint == fingerprint:
                return existing
            config = ModelConfig(new_id, project_id, plain, fingerprint, self.next_tick())
            self.configs[new_id] = config
            return config

    def config(self, config_id: str) -> ModelConfig:
        try:
            return self.configs[config_id]
        except KeyError:
            raise NotFound(f"Model config {config_id} not found.") from None

    # --- experiments -----------------------------------------------------------------------------

    def add_experiment(
        self,
        project_id: str,
        name: str,
        positive_labels: list[PositiveLabel],
        *,
        experiment_id: str | None = None,
        provisioned: bool = False,
    ) -> Experiment:
        with self.lock:
            new_id = experiment_id or self.new_id("exp")
            tick = self.next_tick()
            experiment = Experiment(
                new_id, project_id, name, list(positive_labels), {}, tick, tick, provisioned=provisioned
            )
            self.experiments[new_id] = experiment
            self.deleted_experiments.discard(new_id)
            return experiment

    def attach_config(self, experiment_id: str, config_id: str, weight: float = 1.0, active: bool = True) -> None:
        with self.lock:
            experiment = self.experiment(experiment_id)
            self.config(config_id)
            tick = self.next_tick()
            experiment.configs[config_id] = ExperimentConfig(config_id, weight, active, tick)
            experiment.updated_tick = tick

    def experiment(self, experiment_id: str) -> Experiment:
        try:
            return self.experiments[experiment_id]
        except KeyError:
            raise NotFound(f"Experiment {experiment_id} not found.") from None

    def experiment_for_use(self, experiment_id: str, *, strict: bool, project_hint: Project | None) -> Experiment:
        """The experiment a request samples from; unknown ids are provisioned unless `strict`."""
        with self.lock:
            if experiment_id in self.experiments:
                experiment = self.experiments[experiment_id]
                if experiment.provisioned:
                    self._touch_provisioned(self._provisioned, experiment_id)
                return experiment
            if strict or experiment_id in self.deleted_experiments:
                raise NotFound(f"Experiment {experiment_id} not found.")
            project = project_hint or self.ensure_project(name=PROVISIONED_PROJECT_NAME)
            experiment = self.add_experiment(
                project.id, experiment_id, [], experiment_id=experiment_id, provisioned=True
            )
            for index, spec in enumerate(provisioned_configs()):
                config_id = make_id("config", 0, "provisioned", experiment_id, index)
                config = self.register_config(spec, project.id, config_id=config_id)
                self.attach_config(experiment_id, config.id)
            self._touch_provisioned(self._provisioned, experiment_id)
            log.warning(  # the id is escaped by mockserver.logsafe: it is the client's text
                "Unknown experiment %s: provisioned it with built-in configs %s (use --strict to get 404).",
                experiment_id,
                ", ".join(experiment.configs),
            )
            return experiment

    def project_for_use(self, *, project_id: str | None = None, name: str | None = None) -> Project:
        """The project a chat request names, provisioned if unknown (counted like provisioned experiments)."""
        with self.lock:
            known = self.projects.get(project_id) if project_id is not None else self.project_by_name(name or "")
            if known is not None:
                if known.id in self._provisioned_projects:
                    self._touch_provisioned(self._provisioned_projects, known.id)
                return known
            project = self.ensure_project(name=name, project_id=project_id)
            self._touch_provisioned(self._provisioned_projects, project.id)
            return project

    # --- forgetting what was provisioned -----------------------------------------------------------

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
        experiment = self.experiments.pop(experiment_id, None)
        if experiment is None:
            return
        self.streams.forget("draw", experiment_id)
        still_used = {c for e in self.experiments.values() for c in e.configs}
        for config_id in experiment.configs:
            if config_id not in still_used:
                self.configs.pop(config_id, None)
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

    def delete_experiment(self, experiment_id: str) -> None:
        with self.lock:
            self.experiment(experiment_id)
            del self.experiments[experiment_id]
            self.deleted_experiments.add(experiment_id)
            for project in self.projects.values():
                if project.active_experiment_id == experiment_id:
                    project.active_experiment_id = None

    def draw_config(self, experiment: Experiment) -> ExperimentConfig | None:
        """Draw one active config, by weight, from the experiment's own seeded sequence."""
        with self.lock:
            active = experiment.active_configs()
            if not active:
                return None
            unit = self.streams.stream("draw", experiment.id).random()  # the experiment's nth draw
            experiment.draws += 1
            point = unit * sum(c.weight for c in active)
            for candidate in active:
                point -= candidate.weight
                if point < 0:
                    break
            candidate.trials_count += 1
            return candidate
