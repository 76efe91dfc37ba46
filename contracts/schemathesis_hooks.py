"""Schemathesis hooks for the contract: the stream-invariant check.

Use with the CLI against the mock or any deployment:

    humanloop-mock openapi -o contract.json
    SCHEMATHESIS_HOOKS=contracts.schemathesis_hooks st --config-file contracts/schemathesis.toml \\
        run contract.json --url http://127.0.0.1:8000/v4 -H "X-API-KEY: $KEY"

Importing this module registers the check for pytest users too.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from contracts.streams import stream_problems


def _content_type(response: Any) -> str:
    value = response.headers.get("content-type", "")
    return value[0] if isinstance(value, list) and value else str(value or "")


@schemathesis.check
def chat_stream_invariants(ctx: Any, response: Any, case: Any) -> bool | None:
    """Fail a chat-experiment stream whose framing or cross-event invariants are broken."""
    if not _content_type(response).startswith("text/event-stream"):
        return None
    problems = stream_problems(response.content)
    if problems:
        raise AssertionError("stream invariants broken:\n" + "\n".join(problems[:10]))
    return True
