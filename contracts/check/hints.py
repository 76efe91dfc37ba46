"""Hints that name the likely cause of what a run found, when the run can tell.

A wrong base URL (every request answered 404), the mock started without `--api-key` (so any key is
accepted), an experiment whose template needs inputs (`--input NAME=VALUE`), and the experiment
routes that upstream's last document no longer lists.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from contracts.check.checks import COVERAGE, missing_inputs
from contracts.check.exchange import Exchange, Finding, Intent
from contracts.check.operations import (
    CHAT,
    CREATE_EXPERIMENT,
    DELETE_EXPERIMENT,
    LIST_EXPERIMENTS,
    SAMPLE_CONFIG,
    UPDATE_EXPERIMENT,
)

# In upstream's 2024-05-27 document, gone from its last one (2024-08-05): a target built from the
# last document (Prism mocking it, for one) has none of them.
EXPERIMENT_ROUTES = (LIST_EXPERIMENTS, CREATE_EXPERIMENT, UPDATE_EXPERIMENT, DELETE_EXPERIMENT, SAMPLE_CONFIG)


def _keyed(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.request.intent not in (Intent.NO_KEY, Intent.WRONG_KEY)
            and e.response is not None and e.response.status]


def key_refused(exchanges: list[Exchange]) -> bool:
    """Every request sent with the key was answered 401."""
    keyed = _keyed(exchanges)
    return bool(keyed) and all(e.response is not None and e.response.status == 401 for e in keyed)


def wrong_base_url(base_url: str, exchanges: list[Exchange]) -> str | None:
    """Why the base URL is probably wrong, when every request with the key, valid or not, was answered
    404 (a route that exists answers a malformed body 422, whatever the experiment)."""
    keyed = _keyed(exchanges)
    if not keyed or any(e.response is not None and e.response.status != 404 for e in keyed):
        return None
    path = urlsplit(base_url).path.rstrip("/")
    segments = [s for s in path.split("/") if s]
    if segments[-2:] == ["v4", "v4"]:
        why = f" (it has /v4 twice: try {base_url[: -len('/v4')]})"
    elif "v4" not in segments:
        why = f" (it has no /v4: upstream and humanloop-mock serve the API under /v4, so try {base_url}/v4)"
    else:
        why = ""
    return (f"every request was answered 404, even malformed ones: the base URL is probably wrong{why}. The contract "
            f"expects POST {base_url}/chat-experiment: give the URL the SDK takes as `host`, e.g. "
            "https://api.humanloop.com/v4 or http://127.0.0.1:8000/v4")


def _inputs_wanted(exchanges: list[Exchange]) -> list[str]:
    wanted: dict[str, None] = {}
    for exchange in exchanges:
        if exchange.request.operation == CHAT and exchange.response is not None and exchange.response.status == 422 \
                and exchange.request.intent in (Intent.VALID, Intent.VALID_FUZZ):
            wanted.update(dict.fromkeys(missing_inputs(exchange.response)))
    return list(wanted)


def add_hints(findings: list[Finding], exchanges: list[Exchange], target_is_mock: bool) -> None:
    """Attach to each finding the likely cause of it, where one is known."""
    inputs = _inputs_wanted(exchanges)
    for finding in findings:
        check, operation = finding.violation.check, finding.violation.operation
        first = finding.requests[0] if finding.requests else None
        if check == "auth_required" and target_is_mock and first is not None and first.intent is Intent.WRONG_KEY:
            finding.hint = ("the target is humanloop-mock started without --api-key, so it takes any non-empty key; "
                            "start it with `humanloop-mock serve --api-key KEY` and check it with the same key")
        elif check in ("valid_request_accepted", COVERAGE) and operation == CHAT and inputs:
            flags = " ".join(f"--input {name}=VALUE" for name in inputs)
            finding.hint = f"the experiment's template needs inputs the requests lack: pass {flags}"
        elif check == "valid_request_accepted" and operation in EXPERIMENT_ROUTES and " 404" in \
                finding.violation.message:
            finding.hint = ("this route is in upstream's 2024-05-27 document but not its last (2024-08-05): a target "
                            "built from the last document does not have it")
