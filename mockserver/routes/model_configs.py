"""`POST /v4/model-configs`: register a config to a project, optionally adding it to an experiment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.configs import ProjectModelConfigRequest
from mockserver.context import MockContext
from mockserver.errors import ApiError
from mockserver.pipeline.parse import parse_body
from mockserver.routes.common import json_response, request_body
from mockserver.state import NotFound
from mockserver.views import project_config_response


async def register_model_config(request: Request, context: MockContext) -> Response:
    body = parse_body(ProjectModelConfigRequest, await request_body(request), request.headers.get("content-type"))
    state = context.state
    with state.lock:
        try:
            if body.project_id is not None:
                project = state.project(body.project_id)
            else:
                project = state.ensure_project(name=body.project)
            experiment_id = None
            if body.experiment is not None:
                experiment = next(
                    (e for e in state.experiments.values()
                     if e.project_id == project.id and body.experiment in (e.name, e.id)),
                    None,
                )
                if experiment is None:
                    raise NotFound(f"Experiment {body.experiment!r} not found in project {project.id}; "
                                   "create it first (POST /v4/projects/{project_id}/experiments).")
                experiment_id = experiment.id
            config = state.register_config(body, project.id)
            if experiment_id is not None and config.id not in state.experiments[experiment_id].configs:
                state.attach_config(experiment_id, config.id)
        except NotFound as missing:
            raise ApiError(404, str(missing)) from None
        return json_response(project_config_response(project, config, experiment_id))
