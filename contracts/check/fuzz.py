"""Generated requests: Schemathesis draws them from the contract, seeded, before anything is sent.

The cases are a pure function of (seed, --max-examples, --allow-writes): Hypothesis is run with a
fixed seed, no example database and only its generate phase, so the same seed gives the same
cases against any target. Only then are ids the target knows put in (the experiment ids given, the
project and experiment the checker made), so that valid requests can be answered 2xx; a request
never touches an experiment the user named other than by chatting with it or sampling it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from contracts.check.exchange import Intent, Request
from contracts.check.operations import (
    CHAT,
    CREATE_EXPERIMENT,
    FEEDBACK,
    LIST_EXPERIMENTS,
    REGISTER,
    SAMPLE_CONFIG,
    UPDATE_EXPERIMENT,
    checked_operations,
    is_mock_only,
    label,
    operation,
    path_segment,
    request_errors,
)
from contracts.check.scenarios import CHECK_PROJECT
from contracts.openapi import OPERATIONS, openapi_document

MODES = ("positive", "negative")


@dataclass(frozen=True)
class GeneratedCase:
    number: int
    operation: str
    mode: str
    path_parameters: dict[str, Any]
    body: Any  # the JSON value to send, raw bytes, or None for no body
    has_body: bool


@dataclass
class KnownIds:
    """Ids learnt while running, put into valid generated requests so they can succeed."""

    experiment_ids: tuple[str, ...]
    inputs: dict[str, str] = field(default_factory=dict)  # --input: template inputs for every chat request
    project_id: str | None = None  # the project of the experiments given (from a chat answer)
    own_project_id: str | None = None  # the project the checker registered its config in (--allow-writes)
    own_experiment_id: str | None = None  # an experiment the checker created (--allow-writes)
    own_log_id: str | None = None  # an answer of the checker's own experiment, to give feedback on


def fuzz_document(allow_writes: bool) -> dict[str, Any]:
    """The contract without mock-only routes, without writes unless allowed, and without the key
    scheme (the key is the checker's business; auth has its own scenarios)."""
    document = openapi_document()
    allowed = {label(op) for op in checked_operations(allow_writes)}
    for path, methods in list(document["paths"].items()):
        for method in list(methods):
            if f"{method.upper()} {path}" not in allowed:
                del methods[method]
            else:
                methods[method].pop("security", None)
        if not methods:
            del document["paths"][path]
    document["components"].pop("securitySchemes", None)
    return document


def _collector(drawn: list[Any]) -> Any:
    def keep(case: Any) -> None:
        drawn.append(case)

    return keep


@contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis mixes string and number constants from the source of "local" modules into what it
    draws. Which modules count as local depends on where and how the checker runs (a checkout, a
    wheel, inside pytest), so they are left out: one seed must give the same cases everywhere."""
    try:
        from hypothesis.internal.conjecture import providers
        original = providers._get_local_constants
        empty = providers.Constants()
    except (ImportError, AttributeError):  # another Hypothesis layout: nothing to switch off
        yield
        return
    providers.CONSTANTS_CACHE.cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def generate_cases(allow_writes: bool, max_examples: int, seed: int) -> tuple[GeneratedCase, ...]:
    """Up to `max_examples` positive and negative cases per operation (negative only with a body).

    Cached per process: the cases are a pure function of the arguments, and drawing them is the
    slowest part of a run."""
    with _without_local_constants():
        return _generate(allow_writes, max_examples, seed)


@cache
def _generate(allow_writes: bool, max_examples: int, seed: int) -> tuple[GeneratedCase, ...]:
    if max_examples == 0:
        return ()
    import schemathesis
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis.config import SchemathesisConfig
    from schemathesis.core import NOT_SET

    schema = schemathesis.openapi.from_dict(fuzz_document(allow_writes), config=SchemathesisConfig.from_dict({}))
    cases: list[GeneratedCase] = []
    for op in checked_operations(allow_writes):
        api_operation = schema[op.path][op.method.upper()]
        for mode in MODES:
            if mode == "negative" and op.request is None:
                continue  # path parameters are plain strings: nothing to break but the body
            drawn: list[Any] = []
            draw = hypothesis_seed(seed)(settings(
                max_examples=max_examples, database=None, deadline=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck), print_blob=False, derandomize=False,
                verbosity=Verbosity.quiet,
            )(given(api_operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))(_collector(drawn))))
            with suppress(Unsatisfiable):  # nothing invalid can be made of this operation's input
                draw()
            for case in drawn:
                has_body = case.body is not NOT_SET
                cases.append(GeneratedCase(len(cases) + 1, label(op), mode, dict(case.path_parameters or {}),
                                           copy.deepcopy(case.body) if has_body else None, has_body))
    return tuple(cases)


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    for ascii_only, nan in ((False, False), (True, False), (True, True)):
        try:
            return json.dumps(body, ensure_ascii=ascii_only, allow_nan=nan).encode("utf-8")
        except (ValueError, UnicodeEncodeError):
            continue
    return repr(body).encode("utf-8", "backslashreplace")


def _fill_valid(case: GeneratedCase, known: KnownIds) -> tuple[dict[str, Any], Any]:
    """Put ids the target knows into a positive case, and keep it off anything the user owns."""
    params = dict(case.path_parameters)
    body = copy.deepcopy(case.body)
    experiments = known.experiment_ids
    if case.operation == CHAT and isinstance(body, dict):
        body["experiment_id"] = experiments[case.number % len(experiments)]
        body["provider_api_keys"] = {}  # never send made-up provider keys to a real deployment
        body.pop("project", None)  # a project name would create a project upstream
        if "project_id" in body and known.project_id:
            body["project_id"] = known.project_id
        if known.inputs:
            given = body.get("inputs")
            body["inputs"] = {**(given if isinstance(given, dict) else {}), **known.inputs}
    elif case.operation == SAMPLE_CONFIG:
        params["experiment_id"] = experiments[case.number % len(experiments)]
    elif case.operation in (LIST_EXPERIMENTS, CREATE_EXPERIMENT) and (known.own_project_id or known.project_id):
        params["project_id"] = known.own_project_id or known.project_id
    elif case.operation == UPDATE_EXPERIMENT and known.own_experiment_id:
        params["experiment_id"] = known.own_experiment_id
    elif case.operation == FEEDBACK and known.own_log_id:
        for item in body if isinstance(body, list) else [body]:
            if isinstance(item, dict):
                item["data_id"] = known.own_log_id  # never rate the user's own logs
    elif case.operation == REGISTER and isinstance(body, dict):
        body.pop("project_id", None)
        body["project"] = CHECK_PROJECT
    return params, body


def to_request(case: GeneratedCase, known: KnownIds) -> Request:
    op = operation(case.operation)
    params, body = (_fill_valid(case, known) if case.mode == "positive"
                    else (dict(case.path_parameters), case.body))
    path = op.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", path_segment(value))
    encoded = _encode(body) if case.has_body else None
    invalid = op.request is not None and bool(request_errors(op.request, encoded))
    intent = Intent.INVALID if invalid else Intent.VALID_FUZZ
    return Request(op.method.upper(), path, case.operation, f"fuzz #{case.number} {case.mode}", intent, encoded)


def mock_only_labels() -> list[str]:
    return [label(op) for op in OPERATIONS if is_mock_only(op)]
