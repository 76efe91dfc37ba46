"""Experiment routes: list and create under a project, update, delete, and sample a config."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.experiments import CreateExperimentRequest, UpdateExperimentRequest
from mockserver.errors import ApiError
from mockserver.pipeline.parse import parse_body
from mockserver.routes.common import json_response, request_body
from mockserver.routes.views import experiment_response, sampled_config_response
from mockserver.world.context import MockContext
from mockserver.world.state import NotFound


async def list_experiments(request: Request, context: MockContext) -> Response:
    state = context.state
    try:
        found = state.experiments_of(request.path_params["project_id"])
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return json_response([experiment_response(state, e) for e in found])


async def create_experiment(request: Request, context: MockContext) -> Response:
    body = parse_body(CreateExperimentRequest, await request_body(request), request.headers.get("content-type"))
    state = context.state
    try:
        experiment = state.create_experiment(
            request.path_params["project_id"], body.name, body.positive_labels,
            config_ids=body.config_ids, set_active=bool(body.set_active),
        )
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return json_response(experiment_response(state, experiment))


async def update_experiment(request: Request, context: MockContext) -> Response:
    body = parse_body(UpdateExperimentRequest, await request_body(request), request.headers.get("content-type"))
    state = context.state
    try:
        experiment = state.update_experiment(
            request.path_params["experiment_id"], name=body.name, positive_labels=body.positive_labels,
            register=body.config_ids_to_register, deregister=body.config_ids_to_deregister,
        )
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return json_response(experiment_response(state, experiment))


async def delete_experiment(request: Request, context: MockContext) -> Response:
    try:
        context.state.delete_experiment(request.path_params["experiment_id"])
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return Response(status_code=204)


async def sample_config(request: Request, context: MockContext) -> Response:
    state = context.state
    try:
        experiment = state.experiment_for_use(request.path_params["experiment_id"], strict=context.settings.strict)
        config = state.draw_config(experiment.id)
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    if config is None:
        raise ApiError(409, f"Experiment {experiment.id} has no active model configs to sample from.")
    return json_response(sampled_config_response(state, experiment, config))
