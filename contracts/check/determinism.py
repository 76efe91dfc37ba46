"""Invariants only the mock promises: its text is a function of (seed, config, messages, sample index).

So, for one request, a sample drawn with the same config at the same index must have the same
`output` whether answered as JSON or streamed, and whenever it is asked again. The checker sends
the same request a few times both ways and compares the samples whose config and index coincide.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from contracts.check.checks import DETERMINISM_REPEAT, DETERMINISM_STREAM
from contracts.check.exchange import Exchange, Intent, Request, loads
from contracts.check.operations import CHAT
from contracts.check.scenarios import chat_body, encode
from contracts.check.session import Session
from contracts.check.sse import DONE, parse_stream

ROUNDS = 3
PROBE_MESSAGES = [{"role": "user", "content": "Determinism probe: describe a lighthouse."}]

Sample = tuple[str, str | None, tuple[Any, ...] | None]  # output, finish_reason, tool call names+arguments


def is_mock(session: Session) -> bool:
    """The mock answers `/healthz` with its seed (at /v4/healthz, or at the root). Never required of a target."""
    base = session.options.base_url
    root = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    for url in dict.fromkeys((base + "/healthz", root + "/healthz")):
        answer = session.transport.probe(url)
        if answer.timed_out:
            return False  # the mock answers this at once; a target that does not is not worth asking twice
        try:
            body = answer.json() if answer.status == 200 and not answer.error else None
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "ok" and "seed" in body:
            return True
    return False


def _calls(item: dict[str, Any]) -> tuple[Any, ...] | None:
    calls = item.get("tool_calls")
    if not calls:
        return None
    return tuple((c.get("function", {}).get("name"), c.get("function", {}).get("arguments")) for c in calls)


def json_samples(exchange: Exchange) -> dict[tuple[Any, Any], Sample]:
    assert exchange.response is not None
    body = exchange.response.json()
    return {(item["index"], item["model_config_id"]): (item["output"], item.get("finish_reason"), _calls(item))
            for item in body["data"]}


def stream_samples(exchange: Exchange) -> dict[tuple[Any, Any], Sample]:
    assert exchange.response is not None
    joined: dict[tuple[Any, Any], list[Any]] = {}
    for payload in parse_stream(exchange.response.body).payloads:
        if payload == DONE:
            continue
        item = loads(payload)["data"][0]
        entry = joined.setdefault((item["index"], item["model_config_id"]), ["", None, None])
        entry[0] += item["output"]
        entry[1] = item.get("finish_reason") or entry[1]
        entry[2] = _calls(item) or entry[2]
    return {key: (text, finish, calls) for key, (text, finish, calls) in joined.items()}


def _differences(first: dict[tuple[Any, Any], Sample], second: dict[tuple[Any, Any], Sample],
                 what: str) -> tuple[int, list[tuple[str, str]]]:
    compared, problems = 0, []
    for key in sorted(set(first) & set(second), key=repr):
        compared += 1
        index, config = key
        for name, a, b in zip(("output", "finish_reason", "tool_calls"), first[key], second[key], strict=True):
            if a != b:
                problems.append((f"data[{index}].{name}", f"{what} for config {config}: {_clip(a)} != {_clip(b)}"))
    return compared, problems


def check_determinism(session: Session, experiment_id: str) -> None:
    body = chat_body(experiment_id, session.options.input_values, num_samples=3, messages=PROBE_MESSAGES)
    answers: list[dict[tuple[Any, Any], Sample]] = []
    streams: list[dict[tuple[Any, Any], Sample]] = []
    for round_number in range(ROUNDS):
        for stream in (False, True):
            origin = f"determinism round {round_number + 1} {'stream' if stream else 'json'} ({experiment_id})"
            exchange = session.send(Request("POST", "/chat-experiment", CHAT, origin, Intent.VALID,
                                            encode({**body, "stream": stream})))
            # a broken answer is already reported by the per-response checks
            with suppress(ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError):
                (streams if stream else answers).append(
                    stream_samples(exchange) if stream else json_samples(exchange))
    stream_compared, stream_problems = 0, []
    for answer in answers:
        for streamed in streams:
            count, problems = _differences(answer, streamed, "JSON output != joined stream deltas")
            stream_compared += count
            stream_problems += problems
    repeat_compared, repeat_problems = 0, []
    for position, answer in enumerate(answers):
        for later in answers[position + 1:]:
            count, problems = _differences(answer, later, "the same request answered differently")
            repeat_compared += count
            repeat_problems += problems
    # the JSON request; its curl with "stream": true gives the other side of the comparison
    request = Request("POST", "/chat-experiment", CHAT, f"determinism ({experiment_id})", Intent.VALID, encode(body))
    for check, compared, problems in ((DETERMINISM_STREAM, stream_compared, stream_problems),
                                      (DETERMINISM_REPEAT, repeat_compared, repeat_problems)):
        if compared:
            session.judge(check, _unique(problems), CHAT, request=request)
        else:
            session.note(f"{check}: no two answers drew the same config at the same index; nothing compared")


def _clip(value: Any, limit: int = 50) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unique(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(problems))
