"""The store of one tenant's world: its projects, configs and experiments, its counters and ids, its lock,
and what its runtime objects hold in the byte budget.

The locking rule, kept by every part of the state (`store`, `experiments`, `provisioning`, `feedback_stats`,
`summaries`): a public method is a transaction, it takes `_lock` itself; a private one (`_name`) expects
the lock held by its caller and never takes it. Lookups are both: `experiment(id)` takes the lock,
`_experiment(id)` is for methods that hold it. Nothing outside the state touches its dicts under a
request; tests may read them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from contracts.configs import ModelConfigFields
from mockserver.determinism import KeyedStreams, make_id
from mockserver.settings import DEFAULT_LOG_LIMIT
from mockserver.world.budget import Account, ByteBudget
from mockserver.world.log_ids import LogBook
from mockserver.world.records import (
    Experiment,
    ModelConfig,
    NotFound,
    Project,
    config_fingerprint,
)

# What one object created at runtime holds beyond its strings (measured with tracemalloc: an experiment
# and its config slots about 1.5 KB, a provisioned experiment with its two built-in configs about 5 KB).
OBJECT_BYTES = 2048
# Calls are counted per experiment id apart from the experiment, so a provisioned experiment the LRU
# forgets keeps its count. The counts are few and small: at most this many, at most an eighth of the
# world's held share, least recently called forgotten first (its next call is numbered 1 again).
CALL_COUNTS_KEPT = 1024
CALL_COUNT_BYTES = 128
_CONFIG_FIELD_NAMES = tuple(ModelConfigFields.model_fields)


@dataclass
class Store:
    """The dicts, the counters and the lock every part of the state works on (see the module doc)."""

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
    # Chat calls per experiment id since reset, least recently called first (`next_call`).
    _call_counts: OrderedDict[str, int] = field(default_factory=OrderedDict, repr=False)
    _call_count_bytes: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.streams = KeyedStreams(self.seed)
        account = self.held[1] if self.held is not None else None
        self.logs = LogBook(self.log_limit, self.budget, self._lock, account)
        self.logs.on_forget = lambda log_id: self._unhold(("feedback", log_id))  # a rated log forgotten

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
            self._call_counts.clear()
            self._call_count_bytes = 0
            self.logs.clear()
            if self.held is not None and self._held_sizes:
                budget, account = self.held
                budget.hold(account, "state", -sum(self._held_sizes.values()), force=True)
            self._held_sizes.clear()
            self.streams = KeyedStreams(self.seed)
            self.tick = 0

    def next_tick(self) -> int:
        with self._lock:
            self.tick += 1
            return self.tick

    def next_call(self, experiment_id: str | None = None, *, strict: bool = False) -> tuple[int, int | None]:
        """Number a chat call, in one step: its number since reset (1, 2, 3, ...) and its number among the
        calls naming `experiment_id` (None when that experiment cannot answer: deleted, or unknown under
        `strict`). The per-experiment count outlives a provisioned experiment the LRU forgets."""
        with self._lock:
            value = self.counters.get("chat-call", 0) + 1
            self.counters["chat-call"] = value
            if experiment_id is None or (experiment_id not in self.experiments and (
                    strict or experiment_id in self.deleted_experiments)):
                return value, None
            return value, self._count_call(experiment_id)

    def _count_call(self, experiment_id: str) -> int:
        counts = self._call_counts
        number = counts.pop(experiment_id, 0) + 1
        counts[experiment_id] = number  # (now the most recently called)
        if number == 1:
            size = CALL_COUNT_BYTES + 2 * len(experiment_id)
            self._call_count_bytes += size
            cap = self.held[0].held_cap // 8 if self.held is not None else None
            while len(counts) > CALL_COUNTS_KEPT or (cap is not None and self._call_count_bytes > cap):
                oldest = next(iter(counts))
                del counts[oldest]
                self._call_count_bytes -= CALL_COUNT_BYTES + 2 * len(oldest)
                self._unhold(("calls", oldest))
            if experiment_id in counts:
                self._hold(("calls", experiment_id), size, force=True)  # (within the cap just kept)
        return number

    def new_id(self, prefix: str) -> str:
        """A fresh id, unique for this seed and call sequence (the nth id of its kind)."""
        with self._lock:
            return self.streams.new_id(prefix)

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
        """The project with this id (`NotFound` if there is none)."""
        with self._lock:
            return self._project(project_id)

    def _project(self, project_id: str) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise NotFound(f"Project {project_id} not found.") from None

    def experiments_of(self, project_id: str) -> list[Experiment]:
        with self._lock:
            project = self._project(project_id)
            return [e for e in self.experiments.values() if e.project_id == project.id]

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

    def config(self, config_id: str) -> ModelConfig:
        """The model config with this id (`NotFound` if there is none)."""
        with self._lock:
            return self._config(config_id)

    def _config(self, config_id: str) -> ModelConfig:
        try:
            return self.configs[config_id]
        except KeyError:
            raise NotFound(f"Model config {config_id} not found.") from None

    def experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id (`NotFound` if there is none)."""
        with self._lock:
            return self._experiment(experiment_id)

    def _experiment(self, experiment_id: str) -> Experiment:
        try:
            return self.experiments[experiment_id]
        except KeyError:
            raise NotFound(f"Experiment {experiment_id} not found.") from None

    def _recount(self, experiment: Experiment) -> None:
        """Statistics from scratch after an experiment's labels or configs change (`feedback_stats`)."""
        raise NotImplementedError
