"""How one mock server instance is set up: everything `serve`'s flags and the fixtures can change."""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.spec.models import MockSpec, default_spec

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
DEFAULT_TENANT_IDLE_TIMEOUT = 600.0  # seconds a world must be unused before a new key may take its slot
DEFAULT_MAX_BODY_VALUES = 20_000


@dataclass
class MockSettings:
    """Settings for `create_app`.

    seed: decides every generated id, draw and text. strict: unknown experiments get 404 instead of
    being provisioned. api_keys: if non-empty, only these `X-API-KEY` values are accepted (any
    non-empty key otherwise). stream_done_event: end streams with `data: [DONE]` (off by default,
    as the clients ignore it). journal_limit: the most requests the journal keeps (0 = no limit).
    isolate_keys: each `X-API-KEY` gets its own world (state, counters, rules, journal), started from
    `spec`. max_tenants: with `isolate_keys`, the most worlds kept; a new key when all are taken drops
    the least recently used world if it has been idle `tenant_idle_timeout` seconds, else gets 503.
    max_kept_bytes: what every world keeps and holds, together, at most (its journal, memo tables,
    own spec, scripts and faults, runtime state and, with `isolate_keys`, answer log ids); past it the
    oldest kept items of the world using the most go first. max_prompt_bytes /
    max_answer_bytes: the largest rendered prompt and JSON answer the mock
    will produce (413 past them). max_provisioned: unknown experiment (and project) ids a world keeps
    at once; past it the least recently used provisioned one is forgotten.
    log_limit: the most answer log ids a world remembers for feedback (0 = no count limit); the oldest
    go first. max_body_values: the most JSON values (and keys) a request body may hold (413 past it).
    access_log: print one line per request to stdout (`serve` turns it on; tests have the journal).
    upstream / upstream_ca_bundle / record / replay / replay_speed / replay_ignore / record_on_miss: proxy mode,
    recording and replay (`mockserver.proxy.traffic`, docs/recording.md): forward API requests to this base
    URL (an https:// one's certificate checked against this PEM bundle, if given, else certifi's), write
    every exchange to this cassette, answer from this cassette at this pace (0 = no waiting) ignoring these
    top-level body fields, fetch and append what the cassette lacks.
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
    tenant_idle_timeout: float = DEFAULT_TENANT_IDLE_TIMEOUT
    max_body_values: int = DEFAULT_MAX_BODY_VALUES
    upstream: str | None = None
    upstream_ca_bundle: str | None = None
    record: str | None = None
    replay: str | None = None
    replay_speed: float = 1.0
    replay_ignore: tuple[str, ...] = ("user", "metadata")  # `recording.DEFAULT_IGNORE` (the package stands alone)
    record_on_miss: bool = False
