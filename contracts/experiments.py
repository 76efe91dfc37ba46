"""Experiments: create, update and their responses (from the 2024-05-27 upstream document)."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.base import JsonInt, WireModel
from contracts.configs import ConfigResponse

ExperimentStatus = Literal["Initialized", "In progress"]


class PositiveLabel(WireModel):
    type: str
    value: str


class CreateExperimentRequest(WireModel):
    """Unknown keys are tolerated: the npm client sends `projectId` inside this body."""

    name: str
    config_ids: list[str] | None = None
    positive_labels: list[PositiveLabel]
    set_active: bool = False


class UpdateExperimentRequest(WireModel):
    """Unknown keys are tolerated: the npm client sends `experimentId` inside this body."""

    name: str | None = None
    positive_labels: list[PositiveLabel] | None = None
    config_ids_to_register: list[str] | None = None
    config_ids_to_deregister: list[str] | None = None


class BaseMetricResponse(WireModel):
    id: str
    name: str
    description: str
    code: str
    default: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class ExperimentConfigResponse(WireModel):
    mean: float | None = None
    spread: float | None = None
    trials_count: JsonInt
    active: bool
    id: str
    display_name: str
    config: ConfigResponse
    created_at: datetime
    updated_at: datetime
    weight: float | None = Field(
        default=None,
        description="Mock extension: the config's relative sampling weight within the experiment.",
    )


class ExperimentResponse(WireModel):
    id: str
    project_id: str
    name: str
    status: ExperimentStatus
    configs: list[ExperimentConfigResponse] | None = None
    metric: BaseMetricResponse
    positive_labels: list[PositiveLabel]
    created_at: datetime
    updated_at: datetime
