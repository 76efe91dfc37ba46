"""The wire contract of Humanloop's v4 chat-experiment API, as pydantic models.

This package says what the wire *is*: requests, responses, stream events and errors, and the
OpenAPI document built from them. It imports nothing from `mockserver` or `pytest_plugin`, so it
can check any deployment, not just ours.
"""

from contracts.chat import ChatDataResponse, ChatExperimentRequest, ChatResponse, Usage
from contracts.configs import (
    ConfigResponse,
    GetModelConfigResponse,
    ModelConfigResponse,
    ProjectConfigResponse,
    ProjectModelConfigRequest,
)
from contracts.errors import HTTPValidationError, ValidationErrorItem
from contracts.experiments import (
    CreateExperimentRequest,
    ExperimentResponse,
    UpdateExperimentRequest,
)
from contracts.feedback import FeedbackRequest, FeedbackResponse, FeedbackSubmitRequest, FeedbackSubmitResponse
from contracts.messages import ChatMessageWithToolCall, ToolCall, ToolChoice

__all__ = [
    "ChatDataResponse",
    "ChatExperimentRequest",
    "ChatMessageWithToolCall",
    "ChatResponse",
    "ConfigResponse",
    "CreateExperimentRequest",
    "ExperimentResponse",
    "FeedbackRequest",
    "FeedbackResponse",
    "FeedbackSubmitRequest",
    "FeedbackSubmitResponse",
    "GetModelConfigResponse",
    "HTTPValidationError",
    "ModelConfigResponse",
    "ProjectConfigResponse",
    "ProjectModelConfigRequest",
    "ToolCall",
    "ToolChoice",
    "UpdateExperimentRequest",
    "Usage",
    "ValidationErrorItem",
]
