"""Feedback on logged answers: `POST /feedback` takes one `FeedbackRequest` or a list of them.

From the 2024-08-05 upstream document. Two deliberate differences (docs/contract.md): `data_id` is
required (feedback is "for existing data_ids"; without one there is nothing to attach it to), and
`value` is required unless `unset` is true, which upstream says in prose and our schema says too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, RootModel, model_validator

from contracts.base import WireModel

# The default feedback types; any other string is a custom type.
FeedbackType = Literal["rating", "action", "issue", "correction", "comment"]


def _is_date_time(text: str) -> str:
    """An ISO 8601 / RFC 3339 timestamp (kept as the client wrote it)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("invalid datetime format") from None
    return text


DateTimeText = Annotated[str, AfterValidator(_is_date_time), Field(json_schema_extra={"format": "date-time"})]


class FeedbackRequest(WireModel):
    """One piece of feedback on a logged answer (`data_id`: a chat answer's `data[].id`).

    Unknown keys are ignored, as upstream's schema allows them."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["value"], "properties": {"value": {"type": "string"}}},
        {"required": ["unset"], "properties": {"unset": {"const": True}}},
    ]})

    type: FeedbackType | str = Field(description="rating, action, issue, correction, comment, or a custom type.")
    value: str | None = Field(default=None, description="Required unless `unset` is true.")
    data_id: str = Field(description="The log id the feedback is about (a chat answer's `data[].id`).")
    user: str | None = None
    created_at: DateTimeText | None = None
    unset: bool | None = None

    @model_validator(mode="after")
    def _value_unless_unset(self) -> FeedbackRequest:
        if self.value is None and not self.unset:
            raise ValueError("value is required unless unset is true")
        return self


class FeedbackSubmitRequest(RootModel[list[FeedbackRequest] | FeedbackRequest]):
    """The body of `POST /feedback`: one item, or a list of them (answered in kind)."""


class FeedbackResponse(WireModel):
    type: FeedbackType | str
    value: float | str
    data_id: str | None = None
    user: str | None = None
    created_at: datetime | None = None
    id: str = Field(description="String ID of the feedback; starts with `ann_`.")


class FeedbackSubmitResponse(RootModel[list[FeedbackResponse] | FeedbackResponse]):
    """One `FeedbackResponse` for a single request item, a list for a list."""

