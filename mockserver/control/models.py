"""The shapes `/__admin` answers with, as pydantic models (for its OpenAPI document)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


class LoadedIds(BaseModel):
    """The ids a spec load created, in the order the spec declares them."""

    projects: list[str] = Field(default_factory=list)
    experiments: list[str] = Field(default_factory=list)
    configs: list[str] = Field(default_factory=list)
    scripts: list[str] = Field(default_factory=list)
    faults: list[str] = Field(default_factory=list)


class RuleInfo(BaseModel):
    """A script or fault in force and how often it was used since it was added."""

    id: str
    kind: Literal["script", "fault"]
    name: str = Field(description="What reports call it: its `name`, else its `id` (`script-N` / `fault-N`).")
    label: str = Field(description="What reports call it: the name and the match, "
                                   "e.g. `script-1 matching message='capital'`.")
    match: str = Field(description="What it matches, e.g. `message='capital'`, or `every call`.")
    used: int
    times: int | None = Field(description="How many uses it was set up for (null: always).")
    spec: dict[str, Any]


class UnusedRule(RuleInfo):
    problem: str = Field(description="A sentence for a person: the rule's label, and how often it was used "
                                     "of how often it was set up for.")
    hint: str | None = Field(default=None, description="Why it missed a call, when only letter case was in the "
                                                       "way (`message=` and `message_regex=` are case-sensitive).")


class RuleCreated(BaseModel):
    id: str
    name: str


class JournalRecord(BaseModel):
    """One request as the mock received it (credentials redacted) and what it answered."""

    seq: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any = Field(description="The parsed JSON body (provider keys redacted), or null.")
    body_text: str | None = Field(description="The body as text when it was not JSON.")
    body_truncated: bool
    status: int | None
    response_headers: dict[str, str] = Field(
        default_factory=dict, description="The headers the answer went out with, names lower-cased (e.g. "
                                          "`retry-after` with a 429); empty while no answer has started.")
    content_type: str | None
    error: Any
    experiment_id: str | None
    project_id: str | None
    session_id: str | None
    samples: list[dict[str, Any]] = Field(description="index, log_id, model_config_id, finish_reason, script.")
    call: int | None = Field(description="The chat call's number since reset, over all experiments: what a "
                                         "rule's `match.call` counts (null for other requests).")
    experiment_call: int | None = Field(
        default=None, description="The chat call's number among the calls to its experiment since reset (null "
                                  "for other requests, and for a deleted experiment or an unknown one under --strict).")
    faults: list[str]
    delays: list[float] | None = Field(
        description="Timing profiles: seconds paused before each stream event, or before a JSON body (one item).")
    feedback: list[dict[str, Any]] = Field(
        description="POST /feedback: data_id, experiment_id, model_config_id, outcome (success, failure or null).")
    stream_events: list[str] = Field(description="The `data` of each event handed to the connection while the "
                                                 "client was still there.")
    events_planned: int | None = Field(default=None, description="Events the stream was to have (null for JSON).")
    response: Any = Field(description="The JSON response body (null for streams).")
    completed: bool = Field(description="The whole answer was handed to the connection.")
    client_left: bool = Field(default=False, description="The client disconnected (or was cut off by a timeout) "
                                                         "before it had the whole answer; `error` says which.")
    answered_by: str | None = Field(
        default=None, description="With a cassette or an upstream (`serve --replay/--upstream`, the fixture's "
                                  "`replay`): who answered: `mock`, `upstream <url>`, `recording #3 (answer 1 of "
                                  "2)` or `replay: no recording matched`; null otherwise.")
    violations: list[dict[str, Any]] | None = Field(
        default=None, description="An answer from the upstream, once the passive checker judged it: each violation "
                                  "(check, operation, field, message); empty when it passed; null when not judged.")


class RequestsPage(BaseModel):
    total: int = Field(description="How many entries match the filters (before `limit`).")
    requests: list[JournalRecord]
    rule_labels: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="By kind (`script`, `fault`), then rule name: what reports call each rule these requests "
                    "name (`script-1 matching message='Capital'`), for rules still set up.")


class CheckViolations(BaseModel):
    """One check's violations in the answers the passive checker judged."""

    check: str
    severity: str
    summary: str
    violations: int = Field(description="Violations found (an answer may have several).")
    exchanges: int = Field(description="Answers with at least one.")
    fields: list[dict[str, Any]] = Field(description="Field patterns (indexes as `*`) with their counts.")
    latest: dict[str, Any] | None = Field(description="The latest: exchange (journal seq), source, method, path, "
                                                      "status, operation, field, message.")


class ViolationsReport(BaseModel):
    """What the passive checker found in the upstream's answers (`serve --upstream`)."""

    checking: bool = Field(description="Whether answers are checked (only with `--upstream`).")
    judged: int
    passed: int
    with_violations: int
    violations: int
    not_judged: dict[str, int] = Field(description="Answers not judged, by why: queue_full, too_large, "
                                                   "checker_failed, client_left, shutdown, too_many_events.")
    checker_failure: str | None
    checks: list[CheckViolations]


class CassetteInfo(BaseModel):
    """The cassette answering this tenant's API requests."""

    cassette: str | None = Field(description="Its path (null when loaded from data).")
    recordings: int
    speed: float
    unused: list[int] = Field(description="Recordings no request has taken yet.")
    misses: int = Field(description="Requests no recording matched.")
    ignored_fields: list[str]
    scope: str = Field(description="`tenant` (loaded for this key's world) or `server` (`serve --replay`).")


class CassetteLoad(BaseModel):
    """Load a cassette for this tenant (the server's file system)."""

    path: str
    speed: float = Field(default=0.0, ge=0, description="Replay pace: 1 = as recorded, 0 = no waiting.")
    ignore: list[str] | None = Field(default=None, description="Top-level body fields matching ignores "
                                                               "(default: user, metadata).")

    @field_validator("path")
    @classmethod
    def _names_a_file(cls, path: str) -> str:
        """A path no file can have (empty, `.`, a NUL byte) would fail deep in the loader."""
        if "\x00" in path or not PurePath(path).name:
            raise ValueError(f"{path!r} is not a file's path")
        return path


class UnexpectedRequest(BaseModel):
    seq: int
    reason: str
    request: str


class AdminInfo(BaseModel):
    seed: int
    strict: bool
    isolate_keys: bool
    state: dict[str, int]
    scripts: int
    faults: int
    journal: int
    journal_next_seq: int = Field(description="The `seq` the next journaled request gets: when it grows, new "
                                              "requests arrived (read them with `GET /__admin/requests?since=`).")
    journal_epoch: int = Field(description="How often the journal was cleared (reset, `DELETE /__admin/requests`): "
                                           "when it changes, `seq` numbers started over.")


class BudgetUse(BaseModel):
    """Bytes charged to the byte budget, in all and by kind (docs/server.md, "Memory")."""

    used: int
    items: int = Field(description="Journal, memo and log entries charged (what may be dropped).")
    by_kind: dict[str, int] = Field(description="`journal`, `memo`, `logs` (kept, dropped oldest-first from the "
                                                "world using the most) and `world`, `spec`, `rules`, `state`, "
                                                "`cassette` (held).")


class ServerBudget(BudgetUse):
    limit: int = Field(description="--max-kept-bytes.")
    dropped: int = Field(description="Entries forgotten to make room since start.")
    held_cap: int = Field(description="What one world may hold: half its share of the budget.")
    worlds: int = Field(description="Worlds charged (the shared one included).")


class TenantUse(BudgetUse):
    memo: dict[str, int] = Field(description="Entries per memo table of the caller's own world.")


class ServerInfo(BaseModel):
    """What the whole server keeps, by kind, and what the caller's own world keeps (nothing in it counts
    what another tenant sent: memo tables are per world)."""

    kept: ServerBudget
    tenant: TenantUse
    tenants: int = Field(description="Worlds kept for --isolate-keys (besides the shared one).")
    max_tenants: int = Field(description="--max-tenants, lowered at start if that many worlds did not fit the budget.")
    tenants_evicted: int = Field(description="Idle worlds dropped since start to make room for a new key.")
    tenants_refused: int = Field(description="New keys answered 503 since start: every slot was in use.")


class ConfigDraws(BaseModel):
    """One config of an experiment: its weight, how often it was drawn since reset, and what its
    feedback says (docs/behaviour.md, "Experiments that learn")."""

    id: str
    name: str | None
    model: str | None
    weight: float
    active: bool
    share: float = Field(description="`weight` over the sum of the active configs' weights (0 when inactive): "
                                     "the expected fraction of draws under `weighted` sampling.")
    draws: int
    trials_count: int = Field(description="Logs with counted feedback (successes + failures).")
    successes: int
    failures: int
    mean: float | None = Field(description="Mean of Beta(1 + successes, 1 + failures); null before any trial.")
    spread: float | None = Field(description="Standard deviation of that posterior; null before any trial.")
    timing: dict[str, Any] | None = Field(description="The config's timing profile, if it has one.")


class ExperimentSummary(BaseModel):
    """A live experiment: from the spec, created at runtime, or provisioned on first use."""

    id: str
    name: str
    project_id: str
    provisioned: bool = Field(description="Created by the mock on first use of an unknown id.")
    status: Literal["Initialized", "In progress"]
    sampling: Literal["weighted", "adaptive"]
    positive_labels: list[dict[str, str]]
    draws: int = Field(description="Configs drawn from it since reset (one per sample).")
    logs: int = Field(description="Answer log ids it produced since reset (samples answered).")
    feedback: int = Field(description="Feedback items received on its logs since reset.")
    configs: list[ConfigDraws]


class AdminError(BaseModel):
    detail: Any = Field(description="A sentence, or a list of `{loc, msg, type}` items for a 422.")
