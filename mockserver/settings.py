"""How one mock server instance is set up: everything `serve`'s flags and the fixtures can change."""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.spec import MockSpec, default_spec

DEFAULT_SEED = 0
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_JOURNAL_LIMIT = 10_000
DEFAULT_MAX_TENANTS = 256
DEFAULT_LOG_LIMIT = 100_000


@dataclass
class MockSettings:
    """Settings for `create_app`.

    seed: decides every generated id, draw and text. strict: unknown experiments get 404 instead of
    being provisioned. api_keys: if non-empty, only these `X-API-KEY` values are accepted (any
    non-empty key otherwise). stream_done_event: end streams with `data: [DONE]` (off by default,
    as the clients ignore it). journal_limit: the most requests the journal keeps (0 = no limit).
    isolate_keys: each `X-API-KEY` gets its own world (state, counters, rules, journal), started from
    `spec`. max_tenants: with `isolate_keys`, the most worlds kept; the least recently used goes first.
    log_limit: the most answer log ids remembered for feedback (0 = no limit); the oldest go first.
    """

    seed: int = DEFAULT_SEED
    strict: bool = False
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    stream_done_event: bool = False
    journal_limit: int = DEFAULT_JOURNAL_LIMIT
    spec: MockSpec = field(default_factory=default_spec)
    isolate_keys: bool = False
    max_tenants: int = DEFAULT_MAX_TENANTS
    log_limit: int = DEFAULT_LOG_LIMIT
