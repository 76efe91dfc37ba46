"""The values the pipeline passes along: a parsed request, a rendered prompt, and the answer.

Plain slotted dataclasses (cheap to build on every request); treat them as read-only, since parsed
requests, prompts and wire pieces are shared between requests through the memo tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.chat import ChatExperimentRequest
from contracts.configs import ModelConfigFields
from mockserver.pipeline.generate import Generation
from mockserver.spec.models import TimingSpec


@dataclass(slots=True)
class ParsedChat:
    """A validated request and its messages as wire dicts."""

    body: bytes
    request: ChatExperimentRequest
    messages: list[dict[str, Any]]


@dataclass(slots=True)
class RenderedPrompt:
    """The messages one config sends for one request: its template, rendered, then the request's."""

    messages: list[dict[str, Any]]
    key: str
    prompt_tokens: int


@dataclass(slots=True)
class SampleWire:
    """Everything a sample's JSON says except its log id and timestamp (so it can be reused)."""

    item_rest: dict[str, Any]
    provider_choices: list[dict[str, Any]]
    provider_usage: dict[str, int]
    provider_request: dict[str, Any]


@dataclass(slots=True)
class PreparedSample:
    """What a sample answers for one body, config and index, all but its log id: a pure function of
    them (and the seed), so a repeated request finds it with one memo lookup."""

    prompt: RenderedPrompt
    generation: Generation
    usage: dict[str, int]
    wire: SampleWire


@dataclass(slots=True)
class SampleAnswer:
    index: int
    log_id: str
    config_id: str
    config: ModelConfigFields
    config_fingerprint: str
    messages: list[dict[str, Any]]
    generation: Generation
    usage: dict[str, int]
    wire: SampleWire
    chunks: tuple[str, ...] | None = None
    script: str | None = None


@dataclass(slots=True)
class ChatAnswer:
    request: ChatExperimentRequest
    project_id: str
    experiment_id: str
    session_id: str | None
    samples: list[SampleAnswer]
    tick: int
    timings: tuple[TimingSpec | None, ...] = ()  # per sample: its config's timing profile, if any
