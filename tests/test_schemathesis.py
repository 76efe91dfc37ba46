"""Schemathesis against the app in-process: every built-in check plus the stream invariants.

Seeded and without an example database, so a run is repeatable. The check of stream invariants
(`contracts.streams`) covers what per-event schema validation cannot: one id and config per
sample, `finish_reason` only on each sample's last event, and the `data: ...` framing clients need.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig

from contracts.chat import MAX_SAMPLES
from contracts.streams import stream_problems
from mockserver import MockSettings, create_app
from mockserver.pipeline.stream import MAX_EVENTS_PER_SAMPLE

API_KEY = "schemathesis-key"
LONGEST_STREAM = MAX_SAMPLES * MAX_EVENTS_PER_SAMPLE
CONFIG = SchemathesisConfig.from_str(f"""
seed = 20241128
max-stream-events = {LONGEST_STREAM + 1}

[headers]
X-API-KEY = "{API_KEY}"

[generation]
database = "none"
max-examples = 30

[output.sanitization]
enabled = false
""")


@schemathesis.check
def chat_stream_invariants(ctx: Any, response: Any, case: Any) -> bool | None:
    """Fail a stream that breaks the framing or the cross-event invariants."""
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("text/event-stream"):
        return None
    problems = stream_problems(response.content)
    if problems:
        raise AssertionError("stream invariants broken:\n" + "\n".join(problems[:10]))
    return True


# With an allow-list, a wrong key is a 401, which Schemathesis's `ignored_auth` check demands.
app = create_app(MockSettings(seed=3, api_keys=(API_KEY,)))
schema = schemathesis.openapi.from_asgi("/v4/openapi.json", app, config=CONFIG)


@schema.parametrize()
def test_api_honours_its_contract(case: schemathesis.Case) -> None:
    response = case.call_and_validate()
    # Guard: a run where every answer is a documented 401 would pass silently. Schemathesis drops
    # the key on purpose in some cases; every request that carried it must get past auth.
    if response.request.headers.get("X-API-KEY") == API_KEY:
        assert response.status_code != 401, response.text
