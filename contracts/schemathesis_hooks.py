"""Schemathesis hooks for the contract: the named stream checks of `humanloop-mock check`.

Per-event schema validation cannot see framing, the order of events or invariants across them; the
checker's named checks can. This module runs them on every `text/event-stream` answer Schemathesis
gets, so an in-process Schemathesis run (tests/api/test_schemathesis.py) or `st run` with
`SCHEMATHESIS_HOOKS=contracts.schemathesis_hooks` judges streams exactly as the checker does.
Importing it registers the check.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

from contracts.check.checks import CHECKS, Settings
from contracts.check.exchange import Exchange, Intent, Request, Response
from contracts.check.options import DEFAULT_MAX_FIRST_BYTE

STREAM_CHECKS = ("stream_framing", "event_line_size", "stream_event_shape", "sample_indexes", "stream_finish_reason",
                 "finish_reason_value", "output_matches_message", "stream_flag_content_type")


def _content_type(response: Any) -> str:
    value = response.headers.get("content-type", "")
    return value[0] if isinstance(value, list) and value else str(value or "")


def as_exchange(case: Any, response: Any) -> Exchange:
    """A Schemathesis case and response, as the checker's records."""
    body = case.body if isinstance(case.body, dict | list) else None
    request = Request(case.method.upper(), case.formatted_path, f"{case.method.upper()} {case.path}", "schemathesis",
                      Intent.VALID_FUZZ, json.dumps(body).encode() if body is not None else None)
    headers = {"content-type": _content_type(response)}
    return Exchange(0, request, Response(response.status_code, headers, response.content, 0.0, 0.0))


def stream_violations(case: Any, response: Any) -> list[str]:
    """`check: field: message` for each way a stream answer breaks a named check."""
    exchange = as_exchange(case, response)
    settings = Settings(max_first_byte=DEFAULT_MAX_FIRST_BYTE)
    found = []
    for name in STREAM_CHECKS:
        check = CHECKS[name].run
        assert check is not None
        found += [f"{name}: {field}: {message}" for field, message in check(exchange, settings) or []]
    return found


@schemathesis.check
def chat_stream_invariants(ctx: Any, response: Any, case: Any) -> bool | None:
    """Fail a chat-experiment stream that breaks any of the checker's named stream checks."""
    if not _content_type(response).startswith("text/event-stream"):
        return None
    problems = stream_violations(case, response)
    if problems:
        raise AssertionError("stream checks failed:\n" + "\n".join(problems[:10]))
    return True
