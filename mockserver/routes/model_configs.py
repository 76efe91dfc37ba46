"""`POST /v4/model-configs`: register a config to a project, optionally adding it to an experiment."""

from __future__ import annotations

from contracts.configs import ProjectModelConfigRequest
from mockserver.http.request import Request
from mockserver.pipeline.delivery import Delivery, json_value
from mockserver.pipeline.parse import parse_body
from mockserver.routes.views import project_config_response


async def register_model_config(request: Request) -> Delivery:
    body = parse_body(ProjectModelConfigRequest, request.body, request.content_type)
    project, config, experiment_id = request.world.state.register_model_config(
        body, project_id=body.project_id, project_name=body.project, experiment=body.experiment
    )
    return json_value(project_config_response(project, config, experiment_id))
