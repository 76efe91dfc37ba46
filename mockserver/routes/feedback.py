"""`POST /v4/feedback`: feedback on answers' log ids, one item or a list, answered in kind."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from contracts.feedback import FeedbackRequest
from mockserver.errors import ApiError, error_item, from_pydantic, validation_failed
from mockserver.pipeline.parse import parse_json
from mockserver.routes.common import journal_entry, json_response, request_body
from mockserver.world.context import MockContext
from mockserver.world.state import FeedbackApplied, NotFound

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


async def submit_feedback(request: Request, context: MockContext) -> Response:
    items, many = parse_feedback(await request_body(request), request.headers.get("content-type"))
    try:
        applied = context.state.submit_feedback(items)
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    entry = journal_entry(request)
    if entry is not None:
        entry.feedback_records = tuple(
            (a.data_id, a.experiment_id, a.config_id, _OUTCOMES[a.counted]) for a in applied
        )
        experiments = {a.experiment_id for a in applied}
        if len(experiments) == 1:
            entry.experiment_id = experiments.pop()
    answers = [feedback_response(item, done) for item, done in zip(items, applied, strict=True)]
    return json_response(answers if many else answers[0])
