"""`POST /v4/chat-experiment`: the JSON answer, or the same answer as server-sent events."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mockserver.context import MockContext
from mockserver.faults import ConnectionDrop, FaultPlan, event_delays, plan_faults, shaped_stream
from mockserver.pipeline.answer import ChatAnswer
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.json_cache import render_json
from mockserver.pipeline.stream import DONE_EVENT, encode_events, interleave
from mockserver.routes.common import journal_entry, request_body
from mockserver.timing import has_timing, plan_delays

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


def _note_delays(request: Request, delays: list[float] | None) -> None:
    entry = journal_entry(request)
    if entry is not None and delays is not None:
        entry.delays = tuple(delays)


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
    timed = has_timing(answer)  # a config with a timing profile: its answer waits, event by event
    if not parsed.request.stream:
        if timed:  # a JSON answer waits as long as its stream would have taken
            owners = [sample.index for sample, _, _ in interleave(answer, context.seed)]
            wait = round(sum(plan_delays(context.seed, answer, owners)), 6)
            _note_delays(request, [wait])
            await asyncio.sleep(wait)
        return Response(render_json(context.memo, parsed, answer), media_type="application/json")
    order = interleave(answer, context.seed)
    events = encode_events(answer, order)
    profile = plan_delays(context.seed, answer, [sample.index for sample, _, _ in order]) if timed else None
    if context.settings.stream_done_event:
        events.append(DONE_EVENT)
        profile = [*profile, 0.0] if profile is not None else None
    delays = event_delays(len(events), plan, profile)
    if timed:
        _note_delays(request, delays)
    # Streams with pauses (`delays` not None: a timing profile or a delay fault) stay on the per-event
    # path: each event is written after its own pause.
    return StreamingResponse(shaped_stream(events, plan, delays), media_type="text/event-stream",
                             headers=SSE_HEADERS)
