"""Experiments and the configs in them, as the API and a spec make them: load a spec, register a config,
create, change and delete an experiment. Public methods take the state's lock (`store`).
"""

from __future__ import annotations

from contracts.configs import ModelConfigFields
from contracts.experiments import PositiveLabel
from mockserver.determinism import make_id
from mockserver.fixed_unicode import quoted
from mockserver.sizes import estimate
from mockserver.spec.models import MockSpec, SamplingPolicy, TimingSpec
from mockserver.world.budget import OverShare
from mockserver.world.records import (
    Conflict,
    Experiment,
    ExperimentConfig,
    ModelConfig,
    NotFound,
    Project,
)
from mockserver.world.store import OBJECT_BYTES, Store


class Experiments(Store):
    """Spec loading and the experiments API (see the module doc)."""

    def load(self, spec: MockSpec) -> dict[str, list[str]]:
        """Add the projects, experiments and configs a spec declares; returns the ids, in order.

        An experiment id that already exists is a `Conflict` (nothing is loaded then)."""
        created: dict[str, list[str]] = {"projects": [], "experiments": [], "configs": []}
        with self._lock:
            for project_spec in spec.projects:
                for exp_spec in project_spec.experiments:
                    if exp_spec.id is not None and exp_spec.id in self.experiments:
                        raise Conflict(f"experiment id {quoted(exp_spec.id)} already exists; "
                                       "reset, or replace the whole spec, to redefine it")
            for project_spec in spec.projects:
                project = self._ensure_project(name=project_spec.name, project_id=project_spec.id)
                created["projects"].append(project.id)
                for exp_spec in project_spec.experiments:
                    experiment_id = exp_spec.id or make_id("exp", 0, project.id, exp_spec.name)
                    if experiment_id in self.experiments:
                        raise Conflict(f"experiment {quoted(exp_spec.name)} (id {experiment_id}) already exists")
                    self._add_experiment(project.id, exp_spec.name, exp_spec.positive_labels,
                                         experiment_id=experiment_id, sampling=exp_spec.sampling)
                    created["experiments"].append(experiment_id)
                    for config_spec in exp_spec.configs:
                        config = self._register_config(config_spec, project.id, config_id=config_spec.id)
                        self._attach_config(experiment_id, config.id, config_spec.weight, config_spec.active,
                                            config_spec.timing)
                        created["configs"].append(config.id)
        return created

    def register_model_config(
        self, fields: ModelConfigFields, *, project_id: str | None, project_name: str | None,
        experiment: str | None,
    ) -> tuple[Project, ModelConfig, str | None]:
        """`POST /model-configs`: register to a project, and add to its experiment (by name or id) if named."""
        with self._lock:
            project = self._project(project_id) if project_id is not None else self._ensure_project(name=project_name)
            experiment_id = None
            if experiment is not None:
                found = next((e for e in self.experiments.values()
                              if e.project_id == project.id and experiment in (e.name, e.id)), None)
                if found is None:
                    raise NotFound(f"Experiment {quoted(experiment)} not found in project {project.id}; "
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

    def create_experiment(
        self, project_id: str, name: str, positive_labels: list[PositiveLabel], *,
        config_ids: list[str] | None = None, set_active: bool = False,
    ) -> Experiment:
        """`POST /projects/{id}/experiments`: a new experiment with these (registered) configs."""
        with self._lock:
            project = self._project(project_id)
            for config_id in config_ids or []:
                self._config(config_id)
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
        experiment = self._experiment(experiment_id)
        self._config(config_id)
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
            experiment = self._experiment(experiment_id)
            for config_id in register or []:
                self._config(config_id)
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

    def delete_experiment(self, experiment_id: str) -> None:
        with self._lock:
            self._experiment(experiment_id)
            del self.experiments[experiment_id]
            self._unhold(("experiment", experiment_id))
            self.deleted_experiments.add(experiment_id)
            for project in self.projects.values():
                if project.active_experiment_id == experiment_id:
                    project.active_experiment_id = None
