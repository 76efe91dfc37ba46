"""`POST /v4/chat-experiment`: parse → faults → answer → delivery, each a step of `mockserver.pipeline`.

The route only strings the steps together; what the answer says is `pipeline.chat.answer_chat`, how it goes
out (JSON or events, faults, timing) and what the journal notes of it is `pipeline.outgoing`. A large body
is worked on in turns (`world.heavy`).
"""

from __future__ import annotations

from mockserver.http.request import Request
from mockserver.pipeline import outgoing
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.delivery import Delivery
from mockserver.world.heavy import HEAVY_BODY_BYTES


async def chat_experiment(request: Request) -> Delivery:
    world, body = request.world, request.body
    heavy = len(body) > HEAVY_BODY_BYTES  # a large body: each step runs in the world's turn (`world.heavy`)
    if heavy:
        parsed = await world.turns.run(world, parse_chat, world.memo, body, request.content_type)
    else:
        parsed = parse_chat(world.memo, body, request.content_type)
    if world.rules.scripts or world.rules.faults:  # costly regex matching runs in a thread, or is refused
        await outgoing.match_ahead(world, parsed)
    call, experiment_call = world.state.next_call(parsed.request.experiment_id, strict=world.settings.strict)
    faults = outgoing.faults_for(world, parsed, call) if world.rules.faults else None
    if faults is not None:
        refused = outgoing.refusal(call, experiment_call, faults)
        if refused is not None:
            return refused
        await outgoing.pause(faults, call, experiment_call, request.entry)
    try:
        if heavy:
            answer = await world.turns.run(world, answer_chat, world, parsed, call)
            return await world.turns.run(world, outgoing.delivery, world, parsed, answer, call, experiment_call,
                                         faults)
        return outgoing.delivery(world, parsed, answer_chat(world, parsed, call), call, experiment_call, faults)
    except BaseException:  # (the call was counted: its entry shows its numbers, whatever ended it)
        outgoing.note_call(request.entry, call, experiment_call, faults)
        raise
