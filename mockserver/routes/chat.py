"""`POST /v4/chat-experiment`: the JSON answer, or the same answer as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.context import MockContext
from mockserver.pipeline.chat import ChatAnswer, answer_chat, parse_chat
from mockserver.pipeline.respond import chat_response
from mockserver.pipeline.stream import DONE_EVENT, stream_events
from mockserver.routes.common import journal_entry, json_response

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _note_answer(request: Request, answer: ChatAnswer) -> None:
    entry = journal_entry(request)
    if entry is None:
        return
    entry.experiment_id = answer.experiment_id
    entry.project_id = answer.project_id
    entry.session_id = answer.session_id
    entry.sample_records = tuple(
        (s.index, s.log_id, s.config_id, s.generation.finish_reason) for s in answer.samples
    )


async def _events(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


async def chat_experiment(request: Request, context: MockContext) -> Response:
    parsed = parse_chat(context.state, await request.body(), request.headers.get("content-type"))
    answer = answer_chat(context.state, context.faker, parsed, strict=context.settings.strict)
    _note_answer(request, answer)
    if not parsed.request.stream:
        return json_response(chat_response(answer))
    events = stream_events(answer, context.state.seed)
    if context.settings.stream_done_event:
        events.append(DONE_EVENT)
    return StreamingResponse(_events(events), media_type="text/event-stream", headers=SSE_HEADERS)
