"""The chat-experiment pipeline up to the answer: resolve → draw → render → generate.

`answer_chat` returns a `ChatAnswer`, from which `respond` writes the JSON body and `stream` the
events: one answer, two ways to deliver it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contracts.chat import ChatExperimentRequest
from contracts.configs import ModelConfigFields
from mockserver.determinism import SeededFaker, make_id
from mockserver.errors import ApiError
from mockserver.pipeline.generate import Generation, generate, tool_plan
from mockserver.pipeline.render import render_template
from mockserver.state import Experiment, MockState, NotFound, Project


@dataclass(frozen=True)
class SampleAnswer:
    index: int
    log_id: str
    config_id: str
    config: ModelConfigFields
    messages: list[dict[str, Any]]
    generation: Generation


@dataclass(frozen=True)
class ChatAnswer:
    request: ChatExperimentRequest
    project_id: str
    experiment_id: str
    session_id: str | None
    samples: list[SampleAnswer]
    tick: int


def resolve_project(state: MockState, request: ChatExperimentRequest, strict: bool) -> Project | None:
    """The project the request names (by id or name), if any. Unknown ids are 404 under `strict`."""
    if request.project_id is not None:
        if request.project_id in state.projects or strict:
            return state.project(request.project_id)
        return state.ensure_project(project_id=request.project_id)
    if request.project is not None:
        return state.ensure_project(name=request.project)
    return None


def resolve_session(seed: int, project_id: str, request: ChatExperimentRequest) -> str | None:
    """`session_id` as given, else a stable id derived from `session_reference_id`, else none."""
    if request.session_id is not None:
        return request.session_id
    if request.session_reference_id is not None:
        return make_id("sesh", seed, project_id, request.session_reference_id)
    return None


def _request_messages(request: ChatExperimentRequest) -> list[dict[str, Any]]:
    return [m.model_dump(mode="json") for m in request.messages]


def _generate_cached(state: MockState, faker: SeededFaker, **kwargs: Any) -> Generation:
    """`generate` is a pure function of its arguments, so identical calls share one result."""
    memo = state.cache("generate")
    key = tuple(sorted((k, v) for k, v in kwargs.items() if k != "config"))
    key += (state.configs[kwargs["config_id"]].fingerprint,)
    if key not in memo:
        if len(memo) > 4096:
            memo.clear()
        memo[key] = generate(seed=state.seed, faker=faker, **kwargs)
    return memo[key]


def answer_chat(state: MockState, faker: SeededFaker, request: ChatExperimentRequest, *, strict: bool) -> ChatAnswer:
    """Everything the response says, decided under the state lock so concurrent calls cannot interleave."""
    with state.lock:
        try:
            project = resolve_project(state, request, strict)
            experiment: Experiment = state.experiment_for_use(
                request.experiment_id, strict=strict, project_hint=project
            )
        except NotFound as missing:
            raise ApiError(404, str(missing)) from None
        project_id = project.id if project is not None else experiment.project_id
        request_messages = _request_messages(request)
        json_mode = request.response_format is not None
        samples = []
        for index in range(request.num_samples):
            drawn = state.draw_config(experiment)
            if drawn is None:
                raise ApiError(409, f"Experiment {experiment.id} has no active model configs to sample from.")
            config = state.configs[drawn.config_id]
            fields = config.fields
            messages = render_template(fields.chat_template or [], request.inputs) + request_messages
            generation = _generate_cached(
                state,
                faker,
                config_id=config.id,
                config=fields,
                messages_key=json.dumps(messages, sort_keys=True, separators=(",", ":")),
                last_role=messages[-1]["role"] if messages else None,
                index=index,
                plan=tool_plan(request.tool_choice, request.tool_call, fields),
                json_mode=json_mode or fields.response_format is not None,
            )
            samples.append(SampleAnswer(index, state.new_id("data"), config.id, fields, messages, generation))
        return ChatAnswer(
            request=request,
            project_id=project_id,
            experiment_id=experiment.id,
            session_id=resolve_session(state.seed, project_id, request),
            samples=samples,
            tick=state.next_tick(),
        )
