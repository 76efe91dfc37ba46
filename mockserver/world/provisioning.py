"""What a chat call uses, found or made: its project and experiment (provisioned with built-in configs on
first use unless `--strict`, the least recently used forgotten past `--max-provisioned` or the world's
share), and the configs drawn for it from the experiment's own seeded stream. Public methods take the
state's lock (`store`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from mockserver.determinism import make_id
from mockserver.logsafe import printable
from mockserver.sizes import estimate
from mockserver.spec.draws import pick_thompson, pick_weighted
from mockserver.spec.models import provisioned_configs
from mockserver.world.budget import OverShare
from mockserver.world.experiments import Experiments
from mockserver.world.records import (
    ChatTarget,
    Conflict,
    Experiment,
    ExperimentConfig,
    ModelConfig,
    NotFound,
    Project,
)
from mockserver.world.store import OBJECT_BYTES

log = logging.getLogger("humanloop_mock")

PROVISIONED_PROJECT_NAME = "provisioned"
PROVISIONED_BYTES = 8192


class Provisioning(Experiments):
    """Resolving a chat call: provisioning, forgetting, drawing (see the module doc)."""

    def experiment_for_use(self, experiment_id: str, *, strict: bool, project_hint: Project | None = None
                           ) -> Experiment:
        """The experiment a request samples from; unknown ids are provisioned unless `strict`."""
        with self._lock:
            return self._experiment_for_use(experiment_id, strict=strict, project_hint=project_hint)

    def _experiment_for_use(self, experiment_id: str, *, strict: bool, project_hint: Project | None = None
                            ) -> Experiment:
        experiment = self.experiments.get(experiment_id)
        if experiment is not None:
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

    def draw_config(self, experiment_id: str) -> ModelConfig | None:
        """Draw one active config from the experiment's own seeded sequence (None if it has none)."""
        with self._lock:
            entry = self._draw_from(self._experiment(experiment_id))
            return None if entry is None else self.configs[entry.config_id]

    def _draw_from(self, experiment: Experiment) -> ExperimentConfig | None:
        """The experiment's next draw, by its sampling policy, from its own seeded stream."""
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
            return self._resolve_chat(experiment_id, project_id, project_name, strict, num_samples)

    def _resolve_chat(self, experiment_id: str, project_id: str | None, project_name: str | None, strict: bool,
                      num_samples: int) -> ChatTarget:
        project: Project | None = None
        if project_id is not None:
            project = self._project(project_id) if strict else self._project_for_use(project_id=project_id)
        elif project_name is not None:
            project = self._project_for_use(name=project_name)
        experiment = self._experiment_for_use(experiment_id, strict=strict, project_hint=project)
        configs, timings = [], []
        for _ in range(num_samples):
            entry = self._draw_from(experiment)
            if entry is None:
                raise Conflict(f"Experiment {experiment.id} has no active model configs to sample from.")
            configs.append(self.configs[entry.config_id])
            timings.append(entry.timing)
        return ChatTarget(project.id if project is not None else experiment.project_id, experiment.id,
                          tuple(configs), tuple(timings))
