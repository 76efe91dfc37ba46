"""The one table of admin operations: what `/__admin` does, each a method of the control service
(`MockControl`) and how HTTP reaches it.

The `/__admin` routes (`door`) and the admin OpenAPI document (`openapi`) are made from this table, and the
remote client the fixture uses against a running server (`pytest_plugin.control_client`) finds each
operation's verb, path, body and query here. The in-process fixture calls the service's methods themselves. To add an
operation: a method on `MockControl`, a row here, a test; every door has it then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel

from mockserver.control.models import (
    AdminInfo,
    CassetteInfo,
    CassetteLoad,
    ExperimentSummary,
    LoadedIds,
    RequestsPage,
    RuleCreated,
    RuleInfo,
    ServerInfo,
    UnexpectedRequest,
    UnusedRule,
    ViolationsReport,
)
from mockserver.control.reports import RequestFilter
from mockserver.spec.models import FaultSpec, MockSpec, ScriptSpec

PREFIX = "/__admin"


class Turns(Enum):
    """How the HTTP door keeps an operation off the event loop (`world.heavy`)."""

    NONE = "none"  # quick whatever the world holds
    WHOLE = "whole"  # one step: as long as its input (a spec, a rule), bounded by the body limits
    STEPS = "steps"  # a step per journal entry or rule: the service's `<call>_steps` generator


@dataclass(frozen=True)
class Operation:
    """One row: `method` and `path` (below `/__admin`) call `MockControl.<call>` with `fixed` arguments, the
    path's parameters by name, the JSON body as `body` and the query as `query`. The rest describes it:
    its summary, the body's model, what it answers (`response`, a list when `many`) with which status
    (`ok`), and which errors it may answer."""

    method: str
    path: str
    call: str
    summary: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    body: str | None = None
    body_model: type[BaseModel] | None = None
    query: str | None = None
    query_model: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    ok: int = 200
    errors: tuple[int, ...] = (401,)
    turns: Turns = Turns.NONE

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def _rule_operations(kind: str, spec: type[BaseModel]) -> list[Operation]:
    return [
        Operation("POST", f"/{kind}s", "add_rule", f"Add a {kind} (one item of a config file's `{kind}s`)",
                  fixed={"kind": kind}, body="data", body_model=spec, response=RuleCreated, ok=201,
                  errors=(401, 413, 422), turns=Turns.WHOLE),
        Operation("GET", f"/{kind}s", "list_rules", f"The {kind}s in force, with use counts", fixed={"kind": kind},
                  response=RuleInfo, many=True),
        Operation("DELETE", f"/{kind}s/{{rule_id}}", "remove_rule", f"Remove a {kind}", fixed={"kind": kind}, ok=204,
                  errors=(401, 404)),
    ]


# In the order of the OpenAPI document's paths.
OPERATIONS: tuple[Operation, ...] = (
    Operation("PUT", "/spec", "load_spec",
              "Replace the base spec (config-file shape) and reset to it; returns the ids created",
              fixed={"replace": True}, body="data", body_model=MockSpec, response=LoadedIds, errors=(401, 413, 422),
              turns=Turns.WHOLE),
    Operation("POST", "/spec", "load_spec",
              "Add a spec to the live world (until the next reset); returns the ids created",
              fixed={"replace": False}, body="data", body_model=MockSpec, response=LoadedIds,
              errors=(401, 409, 413, 422), turns=Turns.WHOLE),
    Operation("GET", "/spec", "get_spec", "The base spec", response=MockSpec),
    Operation("GET", "/experiments/{experiment_id}", "experiment",
              "One live experiment, as `/__admin/experiments` lists it", response=ExperimentSummary,
              errors=(401, 404)),
    *_rule_operations("script", ScriptSpec),
    *_rule_operations("fault", FaultSpec),
    Operation("GET", "/requests", "requests", "The journal, oldest first, filtered", query="filters",
              query_model=RequestFilter, response=RequestsPage, errors=(401, 422), turns=Turns.STEPS),
    Operation("DELETE", "/requests", "clear_requests", "Empty the journal", ok=204),
    Operation("GET", "/unused", "unused", "Scripts and faults not used as often as set up", response=UnusedRule,
              many=True, turns=Turns.STEPS),
    Operation("GET", "/unexpected", "unexpected", "Requests nobody planned for", response=UnexpectedRequest,
              many=True, turns=Turns.STEPS),
    Operation("POST", "/reset", "reset", "Journal, counters, draws, scripts and faults back to the base spec",
              response=LoadedIds, turns=Turns.WHOLE),
    Operation("GET", "/experiments", "experiments",
              "Live experiments with their configs, weights and draws since reset", response=ExperimentSummary,
              many=True),
    Operation("GET", "/info", "info", "Seed, mode and counts of this tenant", response=AdminInfo),
    Operation("GET", "/server", "server", "Memory the whole server keeps (the byte budget) and its tenants",
              response=ServerInfo),
    Operation("GET", "/violations", "violations",
              "What the passive checker found in the upstream's answers (serve --upstream), grouped by check",
              response=ViolationsReport),
    Operation("POST", "/cassette", "load_cassette", "Answer this tenant's API requests from a cassette file",
              body="data", body_model=CassetteLoad, response=CassetteInfo, errors=(401, 413, 422), turns=Turns.WHOLE),
    Operation("GET", "/cassette", "cassette", "The cassette answering this tenant, and what it has used",
              response=CassetteInfo, errors=(401, 404)),
    Operation("DELETE", "/cassette", "unload_cassette", "Stop answering from this tenant's cassette", ok=204),
)
