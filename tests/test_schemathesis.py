"""Schemathesis against the app in-process: every built-in check plus the stream invariants.

Seeded and without an example database, so a run is repeatable. The check of stream invariants
(`contracts.streams`) covers what per-event schema validation cannot: one id and config per
sample, `finish_reason` only on each sample's last event, and the `data: ...` framing clients need.
"""

from __future__ import annotations

import schemathesis
from schemathesis.config import SchemathesisConfig

import contracts.schemathesis_hooks  # noqa: F401  (registers the stream-invariant check)
from contracts.chat import MAX_SAMPLES
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


@schema.parametrize()
def test_api_honours_its_contract(case: schemathesis.Case) -> None:
    response = case.call_and_validate()
    # Guard: a run where every answer is a documented 401 would pass silently. Schemathesis drops
    # the key on purpose in some cases; every request that carried it must get past auth.
    if response.request.headers.get("X-API-KEY") == API_KEY:
        assert response.status_code != 401, response.text


def test_config_file_streams_limit_covers_the_longest_stream() -> None:
    import tomllib
    from pathlib import Path

    shipped = tomllib.loads((Path(__file__).resolve().parents[1] / "contracts" / "schemathesis.toml").read_text())
    assert shipped["max-stream-events"] > LONGEST_STREAM


class ContractStateMachine(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along links Schemathesis infers (register a config, create and update an
    experiment in its project, sample it, delete it), with every check including use-after-free."""

    def setup(self) -> None:
        # Each run starts from the same state; the mock being deterministic, a replayed example
        # then gets the same answers, as Hypothesis requires.
        app.state.mock.reset()


TestStatefulContract = ContractStateMachine.TestCase
