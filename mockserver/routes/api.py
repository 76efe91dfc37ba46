"""The API's routes: the contract's operations (`contracts.openapi.OPERATIONS`), each with its handler.

The contract is the route table; `api_routes` refuses to start if an operation has no handler here or a
handler no operation. Besides them: `GET /v4/openapi.json` and, at the root, `GET /healthz`.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts.openapi import OPERATIONS
from mockserver.http.router import Handler, Key, Route
from mockserver.routes import chat, experiments, feedback, meta, model_configs

API_PREFIX = "/v4"

HANDLERS: dict[str, Handler] = {
    "Chats_createExperiment": chat.chat_experiment,
    "ModelConfigs_register": model_configs.register_model_config,
    "Experiments_list": experiments.list_experiments,
    "Experiments_create": experiments.create_experiment,
    "Experiments_update": experiments.update_experiment,
    "Experiments_delete": experiments.delete_experiment,
    "Experiments_sample": experiments.sample_config,
    "Feedback_feedback": feedback.submit_feedback,
    "Mock_health": meta.healthz,
}
# Handlers that take turns for a large body's work themselves (they also wait, which a turn must not).
TAKES_TURNS = frozenset({"Chats_createExperiment"})


def api_routes(sources: Mapping[str, Handler] | None = None) -> list[Route]:
    """One route per path (so a 405's `Allow` names every method of it). `sources` answers operations (by
    operation id) in place of the generator's handlers: another source of answers, such as a recording
    or an upstream (the delivery seam, docs/architecture.md); the door treats it as any handler."""
    operation_ids = {op.operation_id for op in OPERATIONS}
    if operation_ids != set(HANDLERS):
        raise RuntimeError(f"route table and contract disagree: {sorted(operation_ids ^ set(HANDLERS))}")
    unknown = set(sources or ()) - operation_ids
    if unknown:
        raise ValueError(f"no such operation to answer from another source: {sorted(unknown)}")
    handlers = {**HANDLERS, **(sources or {})}
    by_path: dict[str, dict[str, Handler]] = {}
    secured: dict[str, bool] = {}
    turns: dict[str, set[str]] = {}
    for op in OPERATIONS:
        method = op.method.upper()
        by_path.setdefault(op.path, {})[method] = handlers[op.operation_id]
        secured[op.path] = op.secured
        if op.operation_id in TAKES_TURNS:
            turns.setdefault(op.path, set()).add(method)
    routes = [Route(API_PREFIX + path, handlers, key=Key.REQUIRED if secured[path] else Key.NONE,
                    takes_turns=frozenset(turns.get(path, ())))
              for path, handlers in by_path.items()]
    routes.append(Route(API_PREFIX + "/openapi.json", {"GET": meta.openapi}, key=Key.NONE))
    routes.append(Route("/healthz", {"GET": meta.healthz}, key=Key.NONE))
    return routes
