"""How one mock server instance is set up: everything `serve`'s flags and the fixtures can change."""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.spec import MockSpec, default_spec

DEFAULT_SEED = 0
MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 8 * MIB
DEFAULT_JOURNAL_LIMIT = 10_000
DEFAULT_MAX_TENANTS = 256
DEFAULT_MAX_KEPT_BYTES = 256 * MIB
DEFAULT_MAX_PROMPT_BYTES = 8 * MIB
DEFAULT_MAX_ANSWER_BYTES = 64 * MIB
DEFAULT_MAX_PROVISIONED = 1_000
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
    max_kept_bytes: what every journal and the memo tables keep, together, at most (oldest dropped
    first); with `isolate_keys`, every world's answer log ids too. max_prompt_bytes /
    max_answer_bytes: the largest rendered prompt and JSON answer the mock
    will produce (413 past them). max_provisioned: unknown experiment (and project) ids a world keeps
    at once; past it the least recently used provisioned one is forgotten.
    log_limit: the most answer log ids a world remembers for feedback (0 = no count limit); the oldest
    go first.
    access_log: print one line per request to stdout (`serve` turns it on; tests have the journal).
    """

    seed: int = DEFAULT_SEED
    strict: bool = False
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    stream_done_event: bool = False
    journal_limit: int = DEFAULT_JOURNAL_LIMIT
    access_log: bool = False
    spec: MockSpec = field(default_factory=default_spec)
    isolate_keys: bool = False
    max_tenants: int = DEFAULT_MAX_TENANTS
    max_kept_bytes: int = DEFAULT_MAX_KEPT_BYTES
    max_prompt_bytes: int = DEFAULT_MAX_PROMPT_BYTES
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_provisioned: int = DEFAULT_MAX_PROVISIONED
    log_limit: int = DEFAULT_LOG_LIMIT
