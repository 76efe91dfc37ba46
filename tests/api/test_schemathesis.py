"""Schemathesis against the app in-process: every built-in check plus the checker's stream checks.

Seeded and without an example database, so a run is repeatable. The stream checks
(`contracts.schemathesis_hooks`, the named checks of `humanloop-mock check`) cover what per-event
schema validation cannot: framing, one id and config per sample, `finish_reason` only on each
sample's last event. They only matter if streams are actually read: the contract's request examples
(`contracts.openapi.CHAT_EXAMPLES`) give the examples and coverage phases valid streaming requests,
and the chat-experiment test asserts how many streams it inspected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from contracts.chat import MAX_SAMPLES
from contracts.schemathesis_hooks import stream_violations
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


# With an allow-list, a wrong key is a 401, which Schemathesis's `ignored_auth` check demands.
app = create_app(MockSettings(seed=3, api_keys=(API_KEY,)))
schema = schemathesis.openapi.from_asgi("/v4/openapi.json", app, config=CONFIG)


# The fewest chat-experiment streams one run must read: the two stream examples. (Measured: 5, as
# the coverage phase varies the examples; without the examples it was 0.)
MIN_STREAMS = 2


@pytest.fixture
def inspected(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """What one operation's run read; for chat-experiment, it must have read streams."""
    counts: Counter[str] = Counter()
    yield counts
    if "/chat-experiment" in request.node.name:
        assert counts["streams"] >= MIN_STREAMS, f"only {counts['streams']} streams inspected: {dict(counts)}"
        assert counts["events"] > counts["streams"], dict(counts)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one counter per operation, on purpose
def test_api_honours_its_contract(case: schemathesis.Case, inspected: Counter[str]) -> None:
    response = case.call_and_validate()
    # Guard: a run where every answer is a documented 401 would pass silently. Schemathesis drops
    # the key on purpose in some cases; every request that carried it must get past auth.
    if response.request.headers.get("X-API-KEY") == API_KEY:
        assert response.status_code != 401, response.text
    inspected[f"status {response.status_code}"] += 1
    if response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        assert stream_violations(case, response) == []  # what the registered check judged, counted here
        inspected["streams"] += 1
        inspected["events"] += response.content.count(b"\n\n")


class ContractStateMachine(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along links Schemathesis infers (register a config, create and update an
    experiment in its project, sample it, delete it), with every check including use-after-free."""

    def setup(self) -> None:
        # Each run starts from the same state; the mock being deterministic, a replayed example
        # then gets the same answers, as Hypothesis requires.
        app.state.mock.reset()


TestStatefulContract = ContractStateMachine.TestCase
