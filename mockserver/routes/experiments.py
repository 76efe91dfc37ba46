"""Experiment routes: list and create under a project, update, delete, and sample a config."""

from __future__ import annotations

from contracts.experiments import CreateExperimentRequest, UpdateExperimentRequest
from mockserver.errors import ApiError
from mockserver.http.request import Request
from mockserver.pipeline.delivery import Delivery, empty, json_value
from mockserver.pipeline.parse import parse_body
from mockserver.routes.views import experiment_response, sampled_config_response


async def list_experiments(request: Request) -> Delivery:
    state = request.world.state
    found = state.experiments_of(request.path_params["project_id"])
    return json_value([experiment_response(state, e) for e in found])


async def create_experiment(request: Request) -> Delivery:
    body = parse_body(CreateExperimentRequest, request.body, request.content_type)
    state = request.world.state
    experiment = state.create_experiment(
        request.path_params["project_id"], body.name, body.positive_labels,
        config_ids=body.config_ids, set_active=bool(body.set_active),
    )
    return json_value(experiment_response(state, experiment))


async def update_experiment(request: Request) -> Delivery:
    body = parse_body(UpdateExperimentRequest, request.body, request.content_type)
    state = request.world.state
    experiment = state.update_experiment(
        request.path_params["experiment_id"], name=body.name, positive_labels=body.positive_labels,
        register=body.config_ids_to_register, deregister=body.config_ids_to_deregister,
    )
    return json_value(experiment_response(state, experiment))


async def delete_experiment(request: Request) -> Delivery:
    request.world.state.delete_experiment(request.path_params["experiment_id"])
    return empty(204)


async def sample_config(request: Request) -> Delivery:
    world = request.world
    state = world.state
    experiment = state.experiment_for_use(request.path_params["experiment_id"], strict=world.settings.strict)
    config = state.draw_config(experiment.id)
    if config is None:
        raise ApiError(409, f"Experiment {experiment.id} has no active model configs to sample from.")
    return json_value(sampled_config_response(state, experiment, config))
