"""`POST /v4/model-configs`: register a config to a project, optionally adding it to an experiment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from contracts.configs import ProjectModelConfigRequest
from mockserver.errors import ApiError
from mockserver.pipeline.parse import parse_body
from mockserver.routes.common import json_response, request_body
from mockserver.routes.views import project_config_response
from mockserver.world.context import MockContext
from mockserver.world.state import NotFound


async def register_model_config(request: Request, context: MockContext) -> Response:
    body = parse_body(ProjectModelConfigRequest, await request_body(request), request.headers.get("content-type"))
    try:
        project, config, experiment_id = context.state.register_model_config(
            body, project_id=body.project_id, project_name=body.project, experiment=body.experiment
        )
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return json_response(project_config_response(project, config, experiment_id))
