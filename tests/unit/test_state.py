"""`MockState` on its own, without HTTP: loading specs, ids, config registration, draws, provisioning."""

from __future__ import annotations

from collections import Counter

import pytest

from contracts.configs import ModelConfigFields
from mockserver.spec.models import MockSpec
from mockserver.world.state import Conflict, MockState, NotFound


def spec(*configs: dict, experiment_id: str | None = "exp_unit", name: str = "unit") -> MockSpec:
    experiment = {"name": name, "configs": list(configs)}
    if experiment_id is not None:
        experiment["id"] = experiment_id
    return MockSpec.model_validate({"projects": [{"name": "proj", "experiments": [experiment]}]})


def loaded(seed: int, *configs: dict, **options: str | None) -> MockState:
    state = MockState(seed=seed)
    state.load(spec(*configs, **options))
    return state


def test_load_returns_the_ids_it_created_in_order() -> None:
    state = MockState(seed=0)
    created = state.load(spec({"id": "config_a", "model": "a"}, {"model": "b"}))
    assert created["experiments"] == ["exp_unit"]
    assert created["configs"][0] == "config_a" and created["configs"][1].startswith("config_")
    assert len(created["projects"]) == 1 and created["projects"][0].startswith("pr_")
    assert list(state.experiment("exp_unit").configs) == created["configs"]


def test_declared_ids_do_not_depend_on_the_seed_but_sequences_do() -> None:
    """What docs/behaviour.md promises: ids of declared things come from their content alone."""
    one = loaded(1, {"model": "a"}, experiment_id=None)
    two = loaded(2, {"model": "a"}, experiment_id=None)
    assert list(one.configs) == list(two.configs) and list(one.experiments) == list(two.experiments)
    assert list(one.projects) == list(two.projects)
    assert one.new_id("data") != two.new_id("data")  # log ids follow the seed


def test_same_content_same_config_id_other_content_or_project_another() -> None:
    state = MockState(seed=0)
    project = state.ensure_project(name="p").id
    other = state.ensure_project(name="q").id
    first = state.register_config(ModelConfigFields(model="gpt-4o", temperature=0.5), project)
    again = state.register_config(ModelConfigFields(model="gpt-4o", temperature=0.5), project)
    changed = state.register_config(ModelConfigFields(model="gpt-4o", temperature=0.6), project)
    elsewhere = state.register_config(ModelConfigFields(model="gpt-4o", temperature=0.5), other)
    assert first is again
    assert len({first.id, changed.id, elsewhere.id}) == 3


def test_a_taken_experiment_id_is_a_conflict_and_nothing_is_loaded() -> None:
    state = loaded(0, {"id": "config_a"})
    before = (dict(state.projects), dict(state.configs), state.tick)
    clash = MockSpec.model_validate({"projects": [{"name": "new", "experiments": [
        {"id": "exp_fresh", "name": "fresh", "configs": [{"id": "config_new"}]}]},
        {"name": "proj", "experiments": [{"id": "exp_unit", "name": "again"}]}]})
    with pytest.raises(Conflict, match="exp_unit"):
        state.load(clash)
    assert "exp_fresh" not in state.experiments and "config_new" not in state.configs
    assert (dict(state.projects), dict(state.configs), state.tick) == before


def test_draws_follow_weights_and_skip_inactive_configs() -> None:
    state = loaded(3, {"id": "config_heavy", "weight": 3}, {"id": "config_light", "weight": 1},
                   {"id": "config_off", "weight": 50, "active": False})
    drawn = Counter(state.draw_config("exp_unit").id for _ in range(4000))
    assert set(drawn) == {"config_heavy", "config_light"}
    assert abs(drawn["config_heavy"] / 4000 - 0.75) < 0.03
    experiment = state.experiment("exp_unit")
    assert experiment.draws == 4000
    assert experiment.configs["config_heavy"].draws == drawn["config_heavy"]


def test_the_nth_draw_depends_only_on_seed_and_experiment() -> None:
    configs = ({"id": "config_a"}, {"id": "config_b"}, {"id": "config_c"})
    alone = loaded(9, *configs)
    busy = loaded(9, *configs)
    busy.load(spec({"id": "config_x"}, {"id": "config_y"}, experiment_id="exp_other", name="other"))
    sequence = []
    for _ in range(30):
        busy.draw_config("exp_other")  # draws of another experiment in between
        sequence.append(busy.draw_config("exp_unit").id)
    assert sequence == [alone.draw_config("exp_unit").id for _ in range(30)]
    assert len(set(sequence)) == 3
    other_seed = loaded(10, *configs)
    assert [other_seed.draw_config("exp_unit").id for _ in range(30)] != sequence


def test_unknown_experiments_are_provisioned_unless_strict_or_deleted() -> None:
    state = MockState(seed=0)
    with pytest.raises(NotFound):
        state.experiment_for_use("exp_prod", strict=True)
    assert "exp_prod" not in state.experiments
    provisioned = state.experiment_for_use("exp_prod", strict=False)
    assert provisioned.provisioned and len(provisioned.configs) == 2
    assert state.experiment_for_use("exp_prod", strict=False) is provisioned  # once only
    state.delete_experiment("exp_prod")
    with pytest.raises(NotFound):
        state.experiment_for_use("exp_prod", strict=False)


def test_resolve_chat_draws_one_config_per_sample_and_refuses_an_empty_experiment() -> None:
    state = loaded(0, {"id": "config_a"}, {"id": "config_b"})
    target = state.resolve_chat(experiment_id="exp_unit", project_id=None, project_name=None, strict=True,
                                num_samples=5)
    assert len(target.configs) == 5 and {c.id for c in target.configs} <= {"config_a", "config_b"}
    assert target.project_id == state.experiment("exp_unit").project_id
    state.update_experiment("exp_unit", deregister=["config_a", "config_b"])
    with pytest.raises(Conflict, match="no active model configs"):
        state.resolve_chat(experiment_id="exp_unit", project_id=None, project_name=None, strict=True,
                           num_samples=1)


def test_start_chat_is_resolve_chat_and_new_logs_in_one() -> None:
    """The chat call's one transaction gives what its two steps give apart, in the same order."""
    apart, together = (loaded(3, {"id": "config_a"}, {"id": "config_b"}) for _ in range(2))
    for experiment_id, strict in [("exp_unit", True), ("exp_unit", False), ("exp_new", False)]:
        target = apart.resolve_chat(experiment_id=experiment_id, project_id=None, project_name=None, strict=strict,
                                    num_samples=3)
        log_ids = apart.new_logs(target.experiment_id, [config.id for config in target.configs])
        started = together.start_chat(experiment_id=experiment_id, project_id=None, project_name=None,
                                      strict=strict, num_samples=3)
        assert started.configs == target.configs and started.log_ids == log_ids
        assert [together.logs[log_id] for log_id in log_ids] == [apart.logs[log_id] for log_id in log_ids]
    assert together.experiment("exp_new").logs == apart.experiment("exp_new").logs == 3
    with pytest.raises(NotFound):  # refused before any log id is given
        together.start_chat(experiment_id="exp_gone", project_id=None, project_name=None, strict=True,
                            num_samples=1)
    assert together.new_id("data") == apart.new_id("data")


def test_update_checks_everything_before_changing_anything() -> None:
    state = loaded(0, {"id": "config_a"})
    with pytest.raises(NotFound):
        state.update_experiment("exp_unit", name="renamed", deregister=["config_missing"])
    assert state.experiment("exp_unit").name == "unit"
    with pytest.raises(NotFound):
        state.update_experiment("exp_unit", name="renamed", register=["config_missing"])
    assert state.experiment("exp_unit").name == "unit"


def test_clear_forgets_everything_and_restarts_counters_and_ids() -> None:
    state = loaded(4, {"id": "config_a"})
    first_ids = [state.new_id("data") for _ in range(3)]
    calls = [state.next_call("exp_unit") for _ in range(3)]
    assert calls == [(1, 1), (2, 2), (3, 3)] and state.tick > 0
    state.clear()
    assert not state.experiments and not state.configs and not state.projects and state.tick == 0
    assert state.next_call("exp_unit") == (1, 1)
    assert [state.new_id("data") for _ in range(3)] == first_ids


def test_each_change_advances_the_logical_clock_once() -> None:
    state = MockState(seed=0)
    project = state.ensure_project(name="p")
    config = state.register_config(ModelConfigFields(model="m"), project.id)
    experiment = state.create_experiment(project.id, "e", [], config_ids=[config.id])
    assert (project.tick, config.tick, experiment.tick) == (1, 2, 3)
    assert experiment.updated_tick == 4  # attaching the config changed it
