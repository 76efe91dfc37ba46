"""What the checker sends and gets back, and what it finds: plain records shared by every module."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Intent(Enum):
    """What a request is for, which decides the statuses it may get."""

    VALID = "valid"  # a scenario's valid request: must be answered 2xx
    VALID_FUZZ = "valid-fuzz"  # a generated valid request: 2xx, or a documented 404/409 about state
    INVALID = "invalid"  # the contract forbids it: must be refused with a 4xx (scenarios: a 422)
    NO_KEY = "no-key"  # sent without X-API-KEY: must be 401
    WRONG_KEY = "wrong-key"  # sent with a key no server issued: must be 401
    STATEFUL = "stateful"  # its expected answer depends on earlier calls: judged by a run-level check


@dataclass(frozen=True)
class Request:
    """One request as the checker sends it. `body` is bytes (None: no body); the key is added at send time."""

    method: str
    path: str  # below the base URL, e.g. "/chat-experiment" or "/experiments/exp_x"
    operation: str  # the contract's label, e.g. "POST /chat-experiment"
    origin: str  # "scenario json-1 (exp_demo)", "fuzz #12 positive", ...
    intent: Intent
    body: bytes | None = None
    expect_status: int | None = None  # scenarios: the exact status the contract demands
    expect_loc: tuple[str | int, ...] | None = None  # scenarios of invalid bodies: the 422 must name this field

    @property
    def json(self) -> Any:
        """The body as JSON, or None when it has none or is not JSON."""
        if self.body is None:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def wants_stream(self) -> bool:
        body = self.json
        return isinstance(body, dict) and body.get("stream") is True

    @property
    def num_samples(self) -> int:
        body = self.json
        value = body.get("num_samples", 1) if isinstance(body, dict) else 1
        if isinstance(value, float) and value.is_integer():
            return int(value)  # JSON Schema's integer: 3.0 is 3
        return value if isinstance(value, int) and not isinstance(value, bool) else 1


@dataclass
class Response:
    """What came back: status, headers, the raw body bytes, and when the first bytes arrived."""

    status: int
    headers: dict[str, str]
    body: bytes
    first_byte_seconds: float
    total_seconds: float
    error: str | None = None  # set when the exchange broke (timeout, reset, body too large)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Exchange:
    number: int
    request: Request
    response: Response | None  # None when nothing came back at all


@dataclass(frozen=True)
class Violation:
    """One broken rule: the check that found it, the operation, the field, and what is wrong."""

    check: str
    operation: str
    field: str
    message: str
    exchange: int | None = None  # the exchange number, for the curl and the report
    request: Request | None = None  # for checks without an exchange of their own: what reproduces it

    @property
    def key(self) -> tuple[str, str, str]:
        return self.check, self.operation, self.field


@dataclass
class Finding:
    """Violations of one (check, operation, field), the first one's reproducing request, and how many."""

    violation: Violation
    count: int = 1
    curl: str | None = None
    reduced: bool = False
    origins: list[str] = field(default_factory=list)
