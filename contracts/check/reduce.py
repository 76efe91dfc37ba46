"""Shrink a generated request that broke a check to a minimal body that still breaks it the same way.

Greedy and bounded: drop one top-level key at a time, then simplify `messages`, keeping a change
only if the same check still faults the same field and the request stays valid (or invalid) as it
was. Each try is a real request, so the number of tries is capped and counted in the budget.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts.check.checks import response_checks
from contracts.check.exchange import Request, Violation, loads
from contracts.check.operations import operation, request_errors
from contracts.check.scenarios import HELLO, encode
from contracts.check.session import Session
from contracts.check.transport import BudgetExhausted, DeadlineReached

MAX_TRIES = 10
KEEP = {"experiment_id"}  # dropping it only trades one failure for another


class _Slow(Exception):
    """A try got no whole answer in time: shrinking a request against a slow target is not worth it."""


def _still_fails(session: Session, request: Request, violation: Violation) -> bool:
    exchange = session.transport.send(request, record=False)
    if exchange.response is not None and exchange.response.timed_out:
        raise _Slow
    found, _ = response_checks(exchange, session.settings)
    return any(v.key == violation.key for v in found)


def _same_validity(request: Request, body: Any) -> bool:
    model = operation(request.operation).request
    before = bool(request_errors(model, request.body))
    return bool(request_errors(model, encode(body))) == before


def reduce_request(session: Session, request: Request, violation: Violation) -> Request | None:
    """A smaller request that reproduces `violation`, the original if nothing smaller does, or None
    when even the original no longer reproduces it (it depended on the target's state)."""
    try:
        body = loads(request.body) if request.body else None
    except ValueError:
        body = None
    tries = 0
    best = request
    try:
        tries += 1
        if not _still_fails(session, request, violation):
            return None
        if not isinstance(body, dict):
            return request
        candidates: list[tuple[str, Any]] = [(key, None) for key in list(body) if key not in KEEP]
        if isinstance(body.get("messages"), list) and body["messages"] != HELLO:
            candidates.append(("messages", HELLO))
        for key, value in candidates:
            if tries >= MAX_TRIES or session.transport.remaining < 1:
                break
            if key not in body:
                continue
            trial = dict(body)
            if value is None:
                del trial[key]
            else:
                trial[key] = value
            if not _same_validity(request, trial):
                continue
            tries += 1
            candidate = replace(request, body=encode(trial))
            if _still_fails(session, candidate, violation):
                body, best = trial, candidate
    except (BudgetExhausted, DeadlineReached, _Slow):
        pass
    return best
