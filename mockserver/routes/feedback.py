"""`POST /v4/feedback`: feedback on answers' log ids, one item or a list, answered in kind."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from contracts.feedback import FeedbackRequest
from mockserver.errors import error_item, from_pydantic, validation_failed
from mockserver.http.request import Request
from mockserver.pipeline.delivery import Delivery, json_value
from mockserver.pipeline.parse import parse_json
from mockserver.world.state import FeedbackApplied

_ITEMS = TypeAdapter(list[FeedbackRequest])
_OUTCOMES = {True: "success", False: "failure", None: None}


def parse_feedback(body: bytes, content_type: str | None) -> tuple[list[FeedbackRequest], bool]:
    """The items, and whether the body was a list (a 422 in the upstream shape if they are invalid)."""
    data = parse_json(body, content_type)
    try:
        if isinstance(data, list):
            return _ITEMS.validate_python(data), True
        if isinstance(data, dict):
            return [FeedbackRequest.model_validate(data)], False
    except ValidationError as invalid:
        raise from_pydantic(invalid) from None
    raise validation_failed([error_item(["body"], "value is not a valid dict", "type_error.dict")])


def feedback_response(item: FeedbackRequest, applied: FeedbackApplied) -> dict[str, Any]:
    return {
        "type": item.type,
        "value": item.value if item.value is not None else "",
        "data_id": item.data_id,
        "user": item.user,
        "created_at": applied.created_at,
        "id": applied.id,
    }


async def submit_feedback(request: Request) -> Delivery:
    items, many = parse_feedback(request.body, request.content_type)
    assert request.entry is not None  # (an API route: always journaled)
    applied = request.world.state.submit_feedback(items)  # (`NotFound` naming an unknown log id)
    entry = request.entry
    entry.feedback_records = tuple((a.data_id, a.experiment_id, a.config_id, _OUTCOMES[a.counted]) for a in applied)
    experiments = {a.experiment_id for a in applied}
    if len(experiments) == 1:
        entry.experiment_id = experiments.pop()
    answers = [feedback_response(item, done) for item, done in zip(items, applied, strict=True)]
    return json_value(answers if many else answers[0])
