"""`POST /v4/chat-experiment`: the JSON answer, or the same answer as server-sent events."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.context import MockContext
from mockserver.faults import ConnectionDrop, FaultPlan, plan_faults, shaped_stream
from mockserver.pipeline.answer import ChatAnswer
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.json_cache import render_json
from mockserver.pipeline.stream import DONE_EVENT, stream_events
from mockserver.routes.common import journal_entry, request_body

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _note(request: Request, call: int, plan: FaultPlan | None, answer: ChatAnswer | None) -> None:
    entry = journal_entry(request)
    if entry is None:
        return
    entry.call = call
    entry.faults = plan.names if plan is not None else ()
    if answer is not None:
        entry.experiment_id = answer.experiment_id
        entry.project_id = answer.project_id
        entry.session_id = answer.session_id
        entry.sample_records = tuple(
            (s.index, s.log_id, s.config_id, s.generation.finish_reason, s.script) for s in answer.samples
        )


async def chat_experiment(request: Request, context: MockContext) -> Response:
    parsed = parse_chat(context.memo, await request_body(request), request.headers.get("content-type"))
    call = context.state.next_call()
    rules = context.rules
    plan = plan_faults(rules.take_faults(parsed.request, call)) if rules.faults else None
    if plan is not None:
        _note(request, call, plan, None)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.reset:
            return ConnectionDrop()  # type: ignore[return-value]
        error = plan.error()
        if error is not None:
            raise error  # answered and journaled like every other ApiError (routes.common.Endpoint)
    answer = answer_chat(context, parsed, call=call)
    _note(request, call, plan, answer)
    if not parsed.request.stream:
        return Response(render_json(context.memo, parsed, answer), media_type="application/json")
    events = stream_events(answer, context.seed)
    if context.settings.stream_done_event:
        events.append(DONE_EVENT)
    entry = journal_entry(request)
    if entry is not None:  # how far the stream gets is read against this
        cut = plan.cut_after_events if plan is not None else None
        entry.events_planned = len(events) if cut is None else min(cut, len(events))
    return StreamingResponse(shaped_stream(events, plan), media_type="text/event-stream", headers=SSE_HEADERS)
