"""`POST /v4/chat-experiment`: the JSON answer, or the same answer as server-sent events."""

from __future__ import annotations

import asyncio
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from mockserver.pipeline.answer import ChatAnswer
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.json_cache import render_json, render_stream, stream_event_count, stream_order
from mockserver.pipeline.sse import BatchedEventStream, timed_event_stream
from mockserver.pipeline.stream import DONE_EVENT, split_events
from mockserver.routes.common import (
    BODY_SCOPE_KEY,
    TAKES_TURNS,
    JSONBytes,
    journal_entry,
    request_body,
    request_headers,
)
from mockserver.spec import regexes
from mockserver.spec.faults import ConnectionDrop, FaultPlan, damaged, event_delays, plan_faults
from mockserver.spec.rules import last_user_text
from mockserver.spec.timing import has_timing, plan_delays
from mockserver.world.context import MockContext
from mockserver.world.heavy import HEAVY_BODY_BYTES


def _note(request: Request, call: int, plan: FaultPlan | None, answer: ChatAnswer | None,
          experiment_call: int | None = None) -> None:
    entry = journal_entry(request)
    if entry is None:
        return
    entry.call = call
    entry.experiment_call = experiment_call
    entry.faults = plan.names if plan is not None else ()
    if answer is not None:
        entry.experiment_id = answer.experiment_id
        entry.project_id = answer.project_id
        entry.session_id = answer.session_id
        entry.sample_records = tuple(
            [(s.index, s.log_id, s.config_id, s.generation.finish_reason, s.script) for s in answer.samples]
        )


def _note_delays(request: Request, delays: list[float] | None) -> None:
    entry = journal_entry(request)
    if entry is not None and delays is not None:
        entry.delays = tuple(delays)


def _note_events_planned(request: Request, count: int) -> None:
    entry = journal_entry(request)
    if entry is not None:  # how far the stream gets is read against this
        entry.events_planned = count


async def chat_experiment(request: Request, context: MockContext) -> Response:
    scope = request.scope
    body = scope.get(BODY_SCOPE_KEY)  # read by the journaling layer (not awaited here: it runs on every call)
    if body is None:
        body = await request_body(request)
    content_type = request_headers(scope).get("content-type")
    heavy = len(body) > HEAVY_BODY_BYTES  # a large body is parsed and answered in turns (`heavy`)
    if heavy:
        parsed = await context.turns.run(context, parse_chat, context.memo, body, content_type)
    else:
        parsed = parse_chat(context.memo, body, content_type)
    rules = context.rules
    if heavy and (rules.scripts or rules.faults):  # the world's regexes meet a long text off the event loop
        await regexes.match_ahead(rules.patterns(), last_user_text(parsed.request))
    call = context.state.next_call()
    plan = plan_faults(rules.take_faults(parsed.request, call)) if rules.faults else None
    if plan is not None:
        refused = plan.reset or plan.status is not None  # counted now: its experiment is never resolved
        _note(request, call, plan, None, context.state.count_call(parsed.request.experiment_id) if refused else None)
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.reset:
            return ConnectionDrop()  # type: ignore[return-value]
        error = plan.error()
        if error is not None:
            raise error  # answered and journaled like every other ApiError (routes.common.Endpoint)
    if heavy:
        answer = await context.turns.run(context, partial(answer_chat, context, parsed, call=call))
    else:
        answer = answer_chat(context, parsed, call=call)
    _note(request, call, plan, answer, context.state.count_call(answer.experiment_id))
    timed = has_timing(answer)  # a config with a timing profile: its answer waits, event by event
    if not parsed.request.stream:
        if timed:  # a JSON answer waits as long as its stream would have taken
            wait = round(sum(plan_delays(context.seed, answer, stream_order(context.memo, answer, context.seed))), 6)
            _note_delays(request, [wait])
            await asyncio.sleep(wait)
        if heavy:
            return JSONBytes(await context.turns.run(context, render_json, context.memo, parsed, answer))
        return JSONBytes(render_json(context.memo, parsed, answer))
    if not timed and plan is None:  # the common case: the whole stream, in a few sends
        if heavy:
            body = await context.turns.run(context, render_stream, context.memo, parsed, answer, context.seed)
        else:
            body = render_stream(context.memo, parsed, answer, context.seed)
        planned = stream_event_count(context.memo, answer)
        if context.settings.stream_done_event:
            body += DONE_EVENT
            planned += 1
        _note_events_planned(request, planned)
        return BatchedEventStream(body)
    order = stream_order(context.memo, answer, context.seed)
    events = split_events(render_stream(context.memo, parsed, answer, context.seed, order))
    profile = plan_delays(context.seed, answer, order) if timed else None
    if context.settings.stream_done_event:
        events.append(DONE_EVENT)
        profile = [*profile, 0.0] if profile is not None else None
    delays = event_delays(len(events), plan, profile)
    if timed:
        _note_delays(request, delays)
    cut = plan.cut_after_events if plan is not None else None
    _note_events_planned(request, len(events) if cut is None else min(cut, len(events)))
    if delays is None:  # only damage (a cut or a broken event): still whole events, in a few sends
        return BatchedEventStream(b"".join(damaged(events, plan)))
    # Streams with pauses (a timing profile or a delay fault) go event by event: each is written after
    # its own pause, which is what a client under test observes.
    return timed_event_stream(events, plan, delays)


TAKES_TURNS.add(chat_experiment)  # (it sleeps for latency faults and timing profiles between its turns)
