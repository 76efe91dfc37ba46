"""The one declarative model of what the mock knows: projects, experiments, configs and weights.

The config file (`serve --config`), the pytest fixtures and the state's own loader all speak this
model, so a thing said in one place means the same in the others.
"""

from __future__ import annotations

from pydantic import Field

from contracts.base import ClosedWireModel
from contracts.configs import ModelConfigFields
from contracts.experiments import PositiveLabel
from contracts.messages import ChatMessageWithToolCall


class ConfigSpec(ModelConfigFields, ClosedWireModel):
    """A model config inside an experiment. `weight` is relative to the experiment's other configs."""

    id: str | None = Field(default=None, description="Fixed id; derived from the config's content if omitted.")
    model: str = "gpt-4o"
    weight: float = Field(default=1.0, gt=0)
    active: bool = True


class ExperimentSpec(ClosedWireModel):
    id: str | None = Field(default=None, description="Fixed id; derived from the project and name if omitted.")
    name: str
    configs: list[ConfigSpec] = Field(default_factory=list)
    positive_labels: list[PositiveLabel] = Field(default_factory=list)


class ProjectSpec(ClosedWireModel):
    id: str | None = Field(default=None, description="Fixed id; derived from the name if omitted.")
    name: str
    experiments: list[ExperimentSpec] = Field(default_factory=list)


class MockSpec(ClosedWireModel):
    """Everything a config file can declare."""

    projects: list[ProjectSpec] = Field(default_factory=list)


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
