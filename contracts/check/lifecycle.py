"""The scenarios that depend on answers: reads of what the target holds, and (--allow-writes) the
checker's own config and experiment taken from creation to deletion and used after it.

Each step's expected answer follows from the earlier ones, so besides the per-response checks these
steps judge `resource_consistency` and `use_after_delete`.
"""

from __future__ import annotations

from typing import Any

from contracts.check import scenarios
from contracts.check.checks import RESOURCE_CONSISTENCY, USE_AFTER_DELETE
from contracts.check.exchange import Exchange, Intent, dig, items
from contracts.check.operations import CREATE_EXPERIMENT, LIST_EXPERIMENTS
from contracts.check.session import Session


def success_body(exchange: Exchange) -> Any:
    """The JSON of a 2xx answer, else None."""
    response = exchange.response
    if response is None or not response.is_success:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def created_id(body: Any) -> str | None:
    """The id of an experiment the target says it created: a non-empty string, else None. An empty one
    would make the checker rename and delete `/experiments/`, which is not an experiment of its own."""
    value = body.get("id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None


def run_read_scenarios(session: Session) -> None:
    for experiment_id in session.options.experiments:
        session.send(scenarios.sample_config_request(experiment_id))
    project_id = session.known.project_id
    if project_id is None:
        session.note("list-experiments scenario skipped: no chat answer said which project the experiments are in")
        return
    listed = success_body(session.send(scenarios.list_experiments_request(project_id)))
    if isinstance(listed, list):
        ids = [e.get("id") for e in items(listed)]
        missing = [e for e in session.options.experiment_ids if e not in ids]
        problems = [("[].id", f"experiment {e} answered in project {project_id} but is not in its list")
                    for e in missing]
        session.judge(RESOURCE_CONSISTENCY, problems, LIST_EXPERIMENTS)


def run_write_scenarios(session: Session) -> list[str]:
    """The checker's own config and experiments: create, list, rename, sample, chat, delete, use after
    delete. Returns the ids of experiments still to delete at the end."""
    seed = session.options.seed
    registered = success_body(session.send(scenarios.register_request(seed)))
    if not isinstance(registered, dict):
        session.note("write scenarios stopped: registering a model config failed")
        return []
    project_id, config_id = dig(registered, "project_id"), dig(registered, "config", "id")
    if not isinstance(project_id, str) or not isinstance(config_id, str):
        return []
    session.known.own_project_id = project_id
    name = f"humanloop-mock-check-{seed}"
    consistency: list[tuple[str, str]] = []
    created = success_body(session.send(scenarios.create_experiment_request(project_id, config_id, name)))
    experiment_id = created_id(created)
    if not isinstance(created, dict) or experiment_id is None:
        session.note("write scenarios stopped: creating an experiment failed")
        return []
    if created.get("name") != name or created.get("project_id") != project_id:
        consistency.append(("name", f"created experiment says name={created.get('name')!r}, "
                                    f"project_id={created.get('project_id')!r}; asked for {name!r} in {project_id}"))
    if config_id not in [dig(c, "config", "id") for c in items(created.get("configs"))]:
        consistency.append(("configs", f"created experiment does not hold config {config_id} it was given"))
    listed = success_body(session.send(scenarios.list_experiments_request(project_id, "list-own-experiments")))
    if isinstance(listed, list) and experiment_id not in [e.get("id") for e in items(listed)]:
        consistency.append(("[].id", f"created experiment {experiment_id} is not listed in its project"))
    renamed = success_body(session.send(scenarios.rename_experiment_request(experiment_id, name + "-renamed")))
    if isinstance(renamed, dict) and renamed.get("name") != name + "-renamed":
        consistency.append(("name", f"after renaming, the experiment is called {renamed.get('name')!r}"))
    sampled = success_body(session.send(scenarios.sample_config_request(experiment_id, "sample-own-config")))
    if isinstance(sampled, dict) and dig(sampled, "config", "id") != config_id:
        consistency.append(("config.id", f"sampling gave config {dig(sampled, 'config', 'id')!r}, "
                                         f"the experiment holds only {config_id}"))
    chat = success_body(session.send(scenarios.chat_request("own-experiment", experiment_id,
                                                            scenarios.chat_body(experiment_id, num_samples=2))))
    if isinstance(chat, dict):
        configs = {repr(d.get("model_config_id")): d.get("model_config_id") for d in items(chat.get("data"))}
        if list(configs.values()) != [config_id]:
            consistency.append(("data[].model_config_id", f"chat drew configs {sorted(configs)}, "
                                                          f"the experiment holds only {config_id}"))
        log_ids = [d.get("id") for d in items(chat.get("data"))]
        if log_ids and isinstance(log_ids[0], str):
            session.known.own_log_id = log_ids[0]
            rated = success_body(session.send(scenarios.feedback_request(log_ids[0])))
            if isinstance(rated, dict) and rated.get("data_id") != log_ids[0]:
                consistency.append(("data_id", f"feedback on {log_ids[0]} came back about {rated.get('data_id')!r}"))
    session.judge(RESOURCE_CONSISTENCY, consistency, CREATE_EXPERIMENT)
    deleted = session.send(scenarios.delete_experiment_request(experiment_id))
    if deleted.response is not None and deleted.response.is_success:
        after = [
            session.send(scenarios.rename_experiment_request(experiment_id, name + "-gone", "scenario update-deleted",
                                                             Intent.STATEFUL)),
            session.send(scenarios.sample_config_request(experiment_id, "sample-deleted", Intent.STATEFUL)),
        ]
        for exchange in after:
            status = exchange.response.status if exchange.response else 0
            problems = [] if status == 404 else [("status", f"{exchange.request.method} of a deleted experiment "
                                                            f"answered {status}, expected 404")]
            session.judge(USE_AFTER_DELETE, problems, exchange.request.operation, exchange)
    target = success_body(session.send(scenarios.create_experiment_request(project_id, config_id, name + "-fuzz")))
    own = created_id(target)
    if own is not None:
        session.known.own_experiment_id = own
        return [own]
    return []
