"""`POST /v4/chat-experiment`: the JSON answer, or the same answer as server-sent events."""

from __future__ import annotations

import asyncio
from functools import partial

from mockserver.http.request import Request
from mockserver.pipeline.answer import ChatAnswer
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.delivery import (
    EVENT_STREAM_HEADERS,
    Batched,
    Delivery,
    Paced,
    dropped,
    error_answer,
    json_answer,
)
from mockserver.pipeline.json_cache import render_json, render_stream, stream_event_count, stream_order
from mockserver.pipeline.stream import DONE_EVENT, split_events
from mockserver.spec import regexes
from mockserver.spec.faults import FaultPlan, damaged, event_delays, plan_faults
from mockserver.spec.rules import last_user_text
from mockserver.spec.timing import has_timing, plan_delays
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry


def _note(entry: JournalEntry, call: int, plan: FaultPlan | None, answer: ChatAnswer | None,
          experiment_call: int | None = None) -> None:
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


async def chat_experiment(request: Request) -> Delivery:
    context, body, entry = request.world, request.body, request.entry
    assert entry is not None  # (an API route: always journaled)
    heavy = len(body) > HEAVY_BODY_BYTES  # a large body is parsed and answered in turns (`heavy`)
    if heavy:
        parsed = await context.turns.run(context, parse_chat, context.memo, body, request.content_type)
    else:
        parsed = parse_chat(context.memo, body, request.content_type)
    rules = context.rules
    if heavy and (rules.scripts or rules.faults):  # the world's regexes meet a long text off the event loop
        await regexes.match_ahead(rules.patterns(), last_user_text(parsed.request))
    call = context.state.next_call()
    plan = plan_faults(rules.take_faults(parsed.request, call)) if rules.faults else None
    if plan is not None:
        refused = plan.reset or plan.status is not None  # counted now: its experiment is never resolved
        _note(entry, call, plan, None, context.state.count_call(parsed.request.experiment_id) if refused else None)
        if plan.reset:
            return dropped(plan.latency)
        error = plan.error()
        if error is not None:
            answer = error_answer(error)
            answer.wait = plan.latency
            return answer
        if plan.latency:
            await asyncio.sleep(plan.latency)
    if heavy:
        answer = await context.turns.run(context, partial(answer_chat, context, parsed, call=call))
    else:
        answer = answer_chat(context, parsed, call=call)
    _note(entry, call, plan, answer, context.state.count_call(answer.experiment_id))
    timed = has_timing(answer)  # a config with a timing profile: its answer waits, event by event
    if not parsed.request.stream:
        if heavy:
            whole = json_answer(await context.turns.run(context, render_json, context.memo, parsed, answer))
        else:
            whole = json_answer(render_json(context.memo, parsed, answer))
        if timed:  # a JSON answer waits as long as its stream would have taken
            whole.wait = round(sum(plan_delays(context.seed, answer, stream_order(context.memo, answer, context.seed))),
                               6)
            whole.delays = (whole.wait,)
        return whole
    if not timed and plan is None:  # the common case: the whole stream, in a few sends
        if heavy:
            stream = await context.turns.run(context, render_stream, context.memo, parsed, answer, context.seed)
        else:
            stream = render_stream(context.memo, parsed, answer, context.seed)
        planned = stream_event_count(context.memo, answer)
        if context.settings.stream_done_event:
            stream += DONE_EVENT
            planned += 1
        return Batched(stream, planned)
    order = stream_order(context.memo, answer, context.seed)
    events = split_events(render_stream(context.memo, parsed, answer, context.seed, order))
    profile = plan_delays(context.seed, answer, order) if timed else None
    if context.settings.stream_done_event:
        events.append(DONE_EVENT)
        profile = [*profile, 0.0] if profile is not None else None
    delays = event_delays(len(events), plan, profile)
    shaped = damaged(events, plan)
    if delays is None:  # only damage (a cut or a broken event): still whole events, in a few sends
        return Batched(b"".join(shaped), len(shaped))
    # Streams with pauses (a timing profile or a delay fault) go event by event: each is written after
    # its own pause, which is what a client under test observes.
    paced = Paced(200, list(EVENT_STREAM_HEADERS), shaped, delays[:len(shaped)])
    if timed:
        paced.delays = tuple(delays)
    return paced
