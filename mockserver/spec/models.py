"""The one declarative model of what the mock knows: projects, experiments, configs and weights.

The config file (`serve --config`), the pytest fixtures and the state's own loader all speak this
model, so a thing said in one place means the same in the others.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts.base import ClosedWireModel, JsonInt, JsonObject
from contracts.configs import ModelConfigFields
from contracts.experiments import PositiveLabel
from contracts.messages import ChatMessageWithToolCall
from mockserver.fixed_unicode import quoted
from mockserver.spec.regexes import Pattern


class DelaySpec(ClosedWireModel):
    """A seeded lognormal delay in seconds: half the draws are below `median`; `sigma` is the standard
    deviation of its logarithm (0: always the median; 0.5: most draws within 0.37x..2.7x of it)."""

    median: float = Field(ge=0, le=300)
    sigma: float = Field(default=0.0, ge=0, le=3)
    max: float | None = Field(default=None, ge=0, le=300, description="Cap on one delay (the tail is long).")


class TimingSpec(ClosedWireModel):
    """How a config's answers are paced, so a slow model can be told from a fast one (off by default).

    `first_event`: the wait before a stream's first event (time to first token); `between_events`: the
    wait before each later event. A JSON answer waits as long as its stream would have taken."""

    first_event: DelaySpec | None = None
    between_events: DelaySpec | None = None

    @model_validator(mode="after")
    def _says_something(self) -> TimingSpec:
        if self.first_event is None and self.between_events is None:
            raise ValueError("give first_event, between_events or both")
        return self


class ConfigSpec(ModelConfigFields, ClosedWireModel):
    """A model config inside an experiment. `weight` is relative to the experiment's other configs."""

    id: str | None = Field(default=None, description="Fixed id; derived from the config's content if omitted.")
    model: str = "gpt-4o"
    weight: float = Field(default=1.0, gt=0)
    active: bool = True
    timing: TimingSpec | None = Field(default=None, description="Seeded delays for this config's answers.")


# What a config spec says about the mock's behaviour rather than the config: not part of its content.
BEHAVIOUR_KEYS = frozenset({"weight", "active", "timing"})

SamplingPolicy = Literal["weighted", "adaptive"]


class ExperimentSpec(ClosedWireModel):
    id: str | None = Field(default=None, description="Fixed id; derived from the project and name if omitted.")
    name: str
    configs: list[ConfigSpec] = Field(default_factory=list)
    positive_labels: list[PositiveLabel] = Field(default_factory=list)
    sampling: SamplingPolicy = Field(
        default="weighted",
        description="weighted: draw by weight; adaptive: Thompson sampling on the feedback (positive_labels).",
    )


class ProjectSpec(ClosedWireModel):
    id: str | None = Field(default=None, description="Fixed id; derived from the name if omitted.")
    name: str
    experiments: list[ExperimentSpec] = Field(default_factory=list)


class RequestMatch(ClosedWireModel):
    """Which chat-experiment calls something applies to; every given field must hold (none: all calls)."""

    experiment_id: str | None = None
    config_id: str | None = Field(default=None, description="The config a sample drew (scripts only).")
    message: str | None = Field(default=None, description="Substring of the last user message's text.")
    message_regex: Pattern | None = Field(
        default=None, description="A pattern found anywhere in that text (RE2 syntax: linear-time matching).")
    inputs: JsonObject | None = Field(default=None, description="These inputs, with these values (a subset).")
    call: JsonInt | None = Field(default=None, ge=1, description="The nth chat-experiment call since reset.")


class ScriptedToolCall(ClosedWireModel):
    name: str
    arguments: JsonObject | str = Field(default_factory=dict, description="An object, or its JSON text.")
    id: str | None = None


class ScriptedAnswer(ClosedWireModel):
    """What one sample answers instead of generated text."""

    output: str = ""
    tool_calls: list[ScriptedToolCall] | None = None
    finish_reason: Literal["stop", "length", "tool_call"] | None = None
    usage: dict[Literal["prompt_tokens", "generation_tokens"], JsonInt] | None = None
    chunks: list[str] | None = Field(default=None, description="Stream deltas; they must join to `output`.")

    @model_validator(mode="after")
    def _chunks_join_to_output(self) -> ScriptedAnswer:
        if self.chunks is not None and "".join(self.chunks) != self.output:
            raise ValueError("chunks must join to output")
        return self


class ScriptSpec(ClosedWireModel):
    """Answer the samples of matching calls with `answer` (or `answers`, one per use, in order).

    `times`: how many samples it answers (default 1, or one per `answers` item); null means always.
    """

    name: str | None = None
    match: RequestMatch = Field(default_factory=RequestMatch)
    answer: ScriptedAnswer | None = None
    answers: list[ScriptedAnswer] | None = None
    times: JsonInt | None = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_times(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("answers"), list) and data["answers"] and "times" not in data:
            data = {**data, "times": len(data["answers"])}
        return data

    @model_validator(mode="after")
    def _one_answer_kind(self) -> ScriptSpec:
        if (self.answer is None) == (not self.answers):
            raise ValueError("give exactly one of answer or answers")
        return self

    def answer_for(self, use: int) -> ScriptedAnswer:
        """The answer for the `use`-th use (0-based); a sequence repeats its last item."""
        if self.answer is not None:
            return self.answer
        assert self.answers
        return self.answers[min(use, len(self.answers) - 1)]


class FaultSpec(ClosedWireModel):
    """Break matching chat-experiment calls: an error status, delays, or a damaged stream.

    Applies to calls that match `match` (`match.call` picks the nth call since reset), `times` times
    (default 1; null means always). Several effects may combine (e.g. latency and a status).
    """

    name: str | None = None
    match: RequestMatch = Field(default_factory=RequestMatch)
    times: JsonInt | None = Field(default=1, ge=1)
    status: JsonInt | None = Field(default=None, ge=400, le=599)
    detail: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    latency: float | None = Field(default=None, ge=0, le=300, description="Seconds before the response.")
    first_event_delay: float | None = Field(default=None, ge=0, le=300)
    event_delay: float | None = Field(default=None, ge=0, le=60)
    cut_after_events: JsonInt | None = Field(default=None, ge=0)
    malformed_event: JsonInt | None = Field(default=None, ge=1, description="This event (1-based) is broken JSON.")
    reset: bool = Field(default=False, description="Drop the connection without a (complete) response.")

    @model_validator(mode="after")
    def _does_something(self) -> FaultSpec:
        effects = (self.status, self.latency, self.first_event_delay, self.event_delay, self.cut_after_events,
                   self.malformed_event)
        if all(e is None for e in effects) and not self.reset:
            raise ValueError("a fault needs an effect: status, latency, first_event_delay, event_delay, "
                             "cut_after_events, malformed_event or reset")
        return self


class MockSpec(ClosedWireModel):
    """Everything a config file, a fixture, a marker or `PUT /__admin/spec` can declare."""

    projects: list[ProjectSpec] = Field(default_factory=list)
    scripts: list[ScriptSpec] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ids_are_unique(self) -> MockSpec:
        """One id, one thing: a repeated project or experiment id, or a config id given to two
        different configs, would silently replace the first. Checked here so every door gets it."""
        seen: dict[tuple[str, str], tuple[str, Any]] = {}

        def claim(kind: str, value: str | None, where: str, content: Any) -> None:
            if value is None:
                return
            first = seen.get((kind, value))
            if first is None:
                seen[(kind, value)] = (where, content)
            elif first[1] != content or kind == "experiment":
                raise PydanticCustomError(
                    "duplicate_id", "{where}: {kind} id {value} is also used at {first}",
                    {"where": where, "kind": kind, "value": quoted(value), "first": first[0]},
                )

        for p_index, project in enumerate(self.projects):
            claim("project", project.id, f"projects[{p_index}].id", project.name)
            for e_index, experiment in enumerate(project.experiments):
                where = f"projects[{p_index}].experiments[{e_index}]"
                claim("experiment", experiment.id, f"{where}.id", None)
                for c_index, config in enumerate(experiment.configs):
                    content = config.model_dump(exclude=set(BEHAVIOUR_KEYS))
                    claim("config", config.id, f"{where}.configs[{c_index}].id", content)
        return self


DEMO_PROJECT_ID = "pr_demo"
DEMO_EXPERIMENT_ID = "exp_demo"


def default_spec() -> MockSpec:
    """The built-in world `serve` starts with: one project, one experiment, two weighted configs."""

    def system(text: str) -> list[ChatMessageWithToolCall]:
        return [ChatMessageWithToolCall(role="system", content=text)]

    return MockSpec(
        projects=[
            ProjectSpec(
                id=DEMO_PROJECT_ID,
                name="demo",
                experiments=[
                    ExperimentSpec(
                        id=DEMO_EXPERIMENT_ID,
                        name="demo-experiment",
                        configs=[
                            ConfigSpec(
                                id="config_demo_helpful",
                                name="helpful",
                                model="gpt-4o",
                                temperature=0.7,
                                endpoint="chat",
                                chat_template=system("You are a helpful assistant."),
                                weight=3,
                            ),
                            ConfigSpec(
                                id="config_demo_concise",
                                name="concise",
                                model="gpt-4o-mini",
                                temperature=0.2,
                                max_tokens=64,
                                endpoint="chat",
                                chat_template=system("You are a concise assistant. Answer briefly."),
                                weight=1,
                            ),
                        ],
                    )
                ],
            )
        ]
    )


def provisioned_configs() -> list[ConfigSpec]:
    """The pair of configs an unknown experiment id gets on first use (outside `--strict`)."""
    return [
        ConfigSpec(
            name="provisioned-a",
            model="gpt-4o",
            temperature=0.7,
            endpoint="chat",
            chat_template=[ChatMessageWithToolCall(role="system", content="You are a helpful assistant.")],
        ),
        ConfigSpec(
            name="provisioned-b",
            model="gpt-4o-mini",
            temperature=0.2,
            endpoint="chat",
            chat_template=[ChatMessageWithToolCall(role="system", content="You are a concise assistant.")],
        ),
    ]
