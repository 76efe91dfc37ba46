"""State objects written as the wire's response shapes (config, experiment, register/sample responses)."""

from __future__ import annotations

from typing import Any

from contracts.configs import LinkedToolRequest
from mockserver.determinism import logical_time, make_id
from mockserver.world.state import Experiment, MockState, ModelConfig, Project

_CONFIG_KEYS = (
    "name", "description", "provider", "model", "max_tokens", "temperature", "top_p", "stop",
    "presence_penalty", "frequency_penalty", "seed", "response_format", "prompt_template", "chat_template",
)


def model_config_response(config: ModelConfig) -> dict[str, Any]:
    fields = config.fields.model_dump(mode="json")
    tools = []
    for tool in config.fields.tools or []:
        tool_id = tool.id if isinstance(tool, LinkedToolRequest) else make_id("tl", 0, config.id, tool.name)
        tools.append({
            "id": tool_id,
            "name": tool.name or tool_id,
            "description": tool.description,
            "parameters": tool.parameters,
            "source": tool.source,
        })
    body: dict[str, Any] = {"id": config.id, "other": fields["other"], "type": "model"}
    body.update({key: fields[key] for key in _CONFIG_KEYS})
    body.update({"tool_configs": [], "tools": tools, "endpoint": fields["endpoint"]})
    return body


def project_config_response(project: Project, config: ModelConfig, experiment_id: str | None) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "project_name": project.name,
        "created_at": logical_time(config.tick),
        "updated_at": logical_time(config.tick),
        "last_used": logical_time(config.tick),
        "feedback_stats": [],
        "num_datapoints": 0,
        "experiment_id": experiment_id,
        "evaluation_aggregates": [],
        "config": model_config_response(config),
    }


def sampled_config_response(state: MockState, experiment: Experiment, config: ModelConfig) -> dict[str, Any]:
    project = state.project(experiment.project_id)
    body = project_config_response(project, config, experiment.id)
    body["trial_id"] = state.new_id("trial")
    body["environment_id"] = None
    return body


def _metric(experiment: Experiment) -> dict[str, Any]:
    created = logical_time(experiment.tick)
    return {
        "id": make_id("metric", 0, experiment.id),
        "name": "Positive feedback rate",
        "description": "Share of logs with feedback among the experiment's positive labels.",
        "code": "",
        "default": True,
        "active": True,
        "created_at": created,
        "updated_at": created,
    }


def experiment_response(state: MockState, experiment: Experiment) -> dict[str, Any]:
    configs = []
    for entry in list(experiment.configs.values()):
        config = state.config(entry.config_id)
        mean, spread = entry.statistics()
        configs.append({
            "mean": mean,
            "spread": spread,
            "trials_count": entry.trials_count,
            "active": entry.active,
            "id": config.id,
            "display_name": config.fields.name or config.fields.model,
            "config": model_config_response(config),
            "created_at": logical_time(entry.tick),
            "updated_at": logical_time(entry.updated_tick),
            "weight": entry.weight,
        })
    return {
        "id": experiment.id,
        "project_id": experiment.project_id,
        "name": experiment.name,
        "status": experiment.status,
        "configs": configs,
        "metric": _metric(experiment),
        "positive_labels": [label.model_dump() for label in experiment.positive_labels],
        "created_at": logical_time(experiment.tick),
        "updated_at": logical_time(experiment.updated_tick),
    }
