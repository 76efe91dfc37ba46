"""How a chat call's answer goes out: the last step of the pipeline, after the answer.

Everything about the way out is decided here, as a value (`pipeline.delivery`): a fault's refusal (an
error status, a dropped connection), a timed JSON answer's wait, the common stream in a few sends of whole
events, a damaged stream, a stream paced event by event (a timing profile, a delay fault). Each carries the
journal's notes of the call (`ChatNotes`: its call numbers, faults, experiment and samples), which the
sender writes into the request's entry before the first byte, with the plan's own notes (events planned,
pauses, the error's detail).

The generator is one source of a `Delivery`; another (a recorded cassette, an upstream proxy) hands the door
its own, such as a `Relayed` of the bytes it has (see docs/architecture.md, "The delivery seam").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mockserver.pipeline.answer import ChatAnswer, ParsedChat
from mockserver.pipeline.delivery import (
    EVENT_STREAM_HEADERS,
    Batched,
    Delivery,
    Paced,
    dropped,
    error_answer,
    json_answer,
    whole_event_batches,
)
from mockserver.pipeline.json_cache import batched_stream, render_json, render_stream, stream_order
from mockserver.pipeline.stream import DONE_EVENT, split_events
from mockserver.spec import regexes
from mockserver.spec.faults import FaultPlan, damaged, event_delays, plan_faults
from mockserver.spec.rules import last_user_text
from mockserver.spec.timing import has_timing, plan_delays

if TYPE_CHECKING:
    from mockserver.world.context import MockContext
    from mockserver.world.journal import JournalEntry

@dataclass(slots=True)
class ChatNotes:
    """What the journal records of a chat call besides its bytes: its number among the world's calls and
    its experiment's (`experiment_call`, None when never counted), the faults that fired, and the answer's
    experiment, project, session and samples (none for a call refused before its answer)."""

    call: int
    faults: tuple[str, ...] = ()
    experiment_call: int | None = None
    answer: ChatAnswer | None = None

    def write(self, entry: JournalEntry) -> None:
        entry.call = self.call
        entry.experiment_call = self.experiment_call
        entry.faults = self.faults
        answer = self.answer
        if answer is not None:
            entry.experiment_id = answer.experiment_id
            entry.project_id = answer.project_id
            entry.session_id = answer.session_id
            entry.sample_records = tuple(
                [(s.index, s.log_id, s.config_id, s.generation.finish_reason, s.script) for s in answer.samples]
            )


async def match_ahead(context: MockContext, parsed: ParsedChat) -> None:
    """The world's regexes against the call's last user text, ahead of its rules: when that could hold the
    event loop, in a thread (`regexes.match_ahead`); past the server's limit, `TooCostly` (a 413)."""
    await regexes.match_ahead(context.turns, context, context.rules.patterns(), last_user_text(parsed.request))


def faults_for(context: MockContext, parsed: ParsedChat, call: int) -> FaultPlan | None:
    """The faults of the world's rules that fire on this call, as one plan (None when none does)."""
    return plan_faults(context.rules.take_faults(parsed.request, call))


def refusal(call: int, experiment_call: int | None, faults: FaultPlan) -> Delivery | None:
    """The answer of a fault that refuses the call (a dropped connection or an error status), after its
    latency; None when the faults let the call be answered."""
    if not (faults.reset or faults.status is not None):
        return None
    error = faults.error()
    answer = dropped() if faults.reset or error is None else error_answer(error)
    answer.wait = faults.latency
    answer.notes = ChatNotes(call, faults.names, experiment_call)
    return answer


def delivery(context: MockContext, parsed: ParsedChat, answer: ChatAnswer, call: int, experiment_call: int | None,
             faults: FaultPlan | None) -> Delivery:
    """How `answer` goes out (see the module doc), with the call's notes. Plain work, as long as the answer
    (a heavy request's runs in a turn)."""
    notes = ChatNotes(call, faults.names if faults is not None else (), experiment_call, answer)
    memo, seed, done_event = context.memo, context.settings.seed, context.settings.stream_done_event
    timed = has_timing(answer)  # a config with a timing profile: its answer waits, event by event
    out: Delivery
    if not parsed.request.stream:
        out = json_answer(render_json(memo, parsed, answer))
        if timed:  # a JSON answer waits as long as its stream would have taken
            out.wait = round(sum(plan_delays(seed, answer, stream_order(memo, answer, seed))), 6)
            out.delays = (out.wait,)
    elif not timed and faults is None:  # the common case: the whole stream, in a few sends
        pieces, planned = batched_stream(memo, parsed, answer, seed, DONE_EVENT if done_event else b"")
        out = Batched(pieces, planned + done_event)
    else:
        out = shaped_stream(context, parsed, answer, faults, timed)
    out.notes = notes
    return out


def shaped_stream(context: MockContext, parsed: ParsedChat, answer: ChatAnswer, faults: FaultPlan | None,
                  timed: bool) -> Delivery:
    """A stream a fault damages or delays, or a timing profile paces: event by event where anything pauses
    (each written after its own pause, which is what a client under test observes), else still whole
    events in a few sends."""
    memo, seed = context.memo, context.settings.seed
    order = stream_order(memo, answer, seed)
    done_event = context.settings.stream_done_event
    events = split_events(render_stream(memo, parsed, answer, seed, order, DONE_EVENT if done_event else b""))
    profile = plan_delays(seed, answer, order) if timed else None
    if done_event:
        events.append(DONE_EVENT)
        profile = [*profile, 0.0] if profile is not None else None
    delays = event_delays(len(events), faults, profile)
    shaped = damaged(events, faults)
    if delays is None:  # only damage (a cut or a broken event)
        return Batched(whole_event_batches(b"".join(shaped)), len(shaped))
    paced = Paced(200, list(EVENT_STREAM_HEADERS), shaped, delays[:len(shaped)])
    if timed:
        paced.delays = tuple(delays)
    return paced


def note_call(entry: JournalEntry | None, call: int, experiment_call: int | None, faults: FaultPlan | None) -> None:
    """The call's numbers and faults in the journal before its answer is made: a call in flight, or one whose
    answer failed (a 404 under `--strict`, a 413 over a size limit, a client gone), still shows them. The
    experiment it named is in its body: `experiment_id` stays the answer's (a refused id is not copied into
    the entry: it may be megabytes, and the entry's charge counts its body once)."""
    if entry is not None:
        ChatNotes(call, faults.names if faults is not None else (), experiment_call).write(entry)


async def pause(faults: FaultPlan, call: int, experiment_call: int | None, entry: JournalEntry | None) -> None:
    """A fault's latency before a call that is answered (the answer is made after it). Meanwhile the journal
    already shows the call, with its number and faults (a test can see it is in flight)."""
    note_call(entry, call, experiment_call, faults)
    if faults.latency:
        await asyncio.sleep(faults.latency)
