"""Experiment routes: list and create under a project, update, delete, and sample a config."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.experiments import CreateExperimentRequest, UpdateExperimentRequest
from mockserver.context import MockContext
from mockserver.errors import ApiError
from mockserver.pipeline.parse import parse_body
from mockserver.routes.common import json_response, request_body
from mockserver.state import MockState, NotFound
from mockserver.views import experiment_response, sampled_config_response


def _not_found(missing: NotFound) -> ApiError:
    return ApiError(404, str(missing))


def _require_configs(state: MockState, config_ids: list[str] | None) -> None:
    """404 (via NotFound) unless every config id is registered."""
    for config_id in config_ids or []:
        state.config(config_id)


async def list_experiments(request: Request, context: MockContext) -> Response:
    state = context.state
    with state.lock:
        try:
            project = state.project(request.path_params["project_id"])
        except NotFound as missing:
            raise _not_found(missing) from None
        found = [e for e in state.experiments.values() if e.project_id == project.id]
        return json_response([experiment_response(state, e) for e in found])


async def create_experiment(request: Request, context: MockContext) -> Response:
    body = parse_body(CreateExperimentRequest, await request_body(request), request.headers.get("content-type"))
    state = context.state
    with state.lock:
        try:
            project = state.project(request.path_params["project_id"])
            _require_configs(state, body.config_ids)
        except NotFound as missing:
            raise _not_found(missing) from None
        experiment = state.add_experiment(project.id, body.name, body.positive_labels)
        for config_id in body.config_ids or []:
            state.attach_config(experiment.id, config_id)
        if body.set_active:
            project.active_experiment_id = experiment.id
        return json_response(experiment_response(state, experiment))


async def update_experiment(request: Request, context: MockContext) -> Response:
    body = parse_body(UpdateExperimentRequest, await request_body(request), request.headers.get("content-type"))
    state = context.state
    with state.lock:
        try:
            experiment = state.experiment(request.path_params["experiment_id"])
            _require_configs(state, body.config_ids_to_register)
            for config_id in body.config_ids_to_deregister or []:
                if config_id not in experiment.configs:
                    raise NotFound(f"Model config {config_id} is not in experiment {experiment.id}.")
        except NotFound as missing:
            raise _not_found(missing) from None
        if body.name is not None:
            experiment.name = body.name
        if body.positive_labels is not None:
            experiment.positive_labels = list(body.positive_labels)
        for config_id in body.config_ids_to_register or []:
            if config_id not in experiment.configs:
                state.attach_config(experiment.id, config_id)
        for config_id in body.config_ids_to_deregister or []:
            experiment.configs.pop(config_id, None)
        experiment.updated_tick = state.next_tick()
        return json_response(experiment_response(state, experiment))


async def delete_experiment(request: Request, context: MockContext) -> Response:
    try:
        context.state.delete_experiment(request.path_params["experiment_id"])
    except NotFound as missing:
        raise _not_found(missing) from None
    return Response(status_code=204)


async def sample_config(request: Request, context: MockContext) -> Response:
    state = context.state
    with state.lock:
        try:
            experiment = state.experiment_for_use(
                request.path_params["experiment_id"], strict=context.settings.strict, project_hint=None
            )
        except NotFound as missing:
            raise _not_found(missing) from None
        drawn = state.draw_config(experiment)
        if drawn is None:
            raise ApiError(409, f"Experiment {experiment.id} has no active model configs to sample from.")
        return json_response(sampled_config_response(state, experiment, state.configs[drawn.config_id]))
