"""Decide which scripts and faults apply to a chat-experiment call (the `match` of the spec)."""

from __future__ import annotations

import re

from contracts.chat import ChatExperimentRequest
from contracts.messages import message_text
from mockserver.spec import RequestMatch, ScriptedAnswer
from mockserver.state import ActiveFault, ActiveScript, MockState


def last_user_text(request: ChatExperimentRequest) -> str:
    """The text of the last `user` message ('' if there is none)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message_text(message)
    return ""


def call_matches(match: RequestMatch, request: ChatExperimentRequest, call: int) -> bool:
    """Whether a call satisfies every request-level condition of `match`."""
    if match.call is not None and match.call != call:
        return False
    if match.experiment_id is not None and match.experiment_id != request.experiment_id:
        return False
    if match.message is not None or match.message_regex is not None:
        text = last_user_text(request)
        if match.message is not None and match.message not in text:
            return False
        if match.message_regex is not None and re.search(match.message_regex, text) is None:
            return False
    missing = object()
    return match.inputs is None or all(request.inputs.get(key, missing) == value
                                       for key, value in match.inputs.items())


def take_script(
    state: MockState, request: ChatExperimentRequest, call: int, config_id: str
) -> tuple[ActiveScript, ScriptedAnswer] | None:
    """The first unexhausted script matching this sample, used once; None if none matches."""
    for script in state.scripts:
        match = script.spec.match
        if script.exhausted or (match.config_id is not None and match.config_id != config_id):
            continue
        if call_matches(match, request, call):
            answer = script.spec.answer_for(script.used)
            script.used += 1
            return script, answer
    return None


def take_faults(state: MockState, request: ChatExperimentRequest, call: int) -> list[ActiveFault]:
    """Every unexhausted fault matching this call, each counted as fired once."""
    fired = []
    for fault in state.faults:
        spec = fault.spec
        if fault.exhausted or (spec.on_call is not None and spec.on_call != call):
            continue
        if call_matches(spec.match, request, call):
            fault.used += 1
            fired.append(fault)
    return fired
