"""`POST /v4/chat-experiment`: the JSON answer, or the same answer as server-sent events."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from mockserver.context import MockContext
from mockserver.faults import ConnectionDrop, FaultPlan, damaged, paced, plan_faults
from mockserver.pipeline.answer import ChatAnswer
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.json_cache import render_json, render_stream
from mockserver.pipeline.stream import DONE_EVENT, split_events
from mockserver.routes.common import JSONBytes, journal_entry, request_body
from mockserver.sse import BatchedEventStream, timed_event_stream


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
        return JSONBytes(render_json(context.memo, parsed, answer))
    body = render_stream(context.memo, parsed, answer, context.seed)
    if context.settings.stream_done_event:
        body += DONE_EVENT
    if plan is None:
        return BatchedEventStream(body)
    events = damaged(split_events(body), plan)
    if paced(plan):
        return timed_event_stream(events, plan)
    return BatchedEventStream(b"".join(events))
