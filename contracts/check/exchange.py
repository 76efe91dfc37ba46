"""What the checker sends and gets back, and what it finds: plain records shared by every module."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


def loads(data: bytes | str) -> Any:
    """JSON from a target's bytes; ValueError for anything that is not JSON (too deeply nested included)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def dig(value: Any, *keys: str) -> Any:
    """`value[k1][k2]...` through JSON objects only; None as soon as a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def items(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON list (anything else: none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


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

    def to_json(self) -> dict[str, Any]:
        """The request as the JSON report keeps it (never the key: it is added at send time)."""
        record: dict[str, Any] = {"method": self.method, "path": self.path, "operation": self.operation,
                                  "origin": self.origin, "intent": self.intent.value}
        if self.body is not None:
            try:
                record["body"] = self.body.decode("utf-8")
            except UnicodeDecodeError:
                record["body_base64"] = base64.b64encode(self.body).decode("ascii")
        if self.expect_status is not None:
            record["expect_status"] = self.expect_status
        if self.expect_loc is not None:
            record["expect_loc"] = list(self.expect_loc)
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Request:
        """A request from a JSON report (ValueError if it is not one)."""
        try:
            body = (record["body"].encode("utf-8") if "body" in record else
                    base64.b64decode(record["body_base64"]) if "body_base64" in record else None)
            loc = record.get("expect_loc")
            return cls(str(record["method"]), str(record["path"]), str(record["operation"]), str(record["origin"]),
                       Intent(record["intent"]), body, record.get("expect_status"),
                       tuple(loc) if isinstance(loc, list) else None)
        except (KeyError, TypeError, AttributeError, binascii.Error) as bad:
            raise ValueError(f"not a request record: {bad!r}") from None

    @property
    def json(self) -> Any:
        """The body as JSON, or None when it has none or is not JSON."""
        if self.body is None:
            return None
        try:
            return loads(self.body)
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
    timed_out: bool = False  # no whole answer within the per-request timeout
    # The length of each header line as received (`name: value`), repeats kept (`headers` merges them);
    # None: not measured, so the merged headers stand in.
    header_lines: tuple[int, ...] | None = None

    def header_line_lengths(self) -> tuple[int, ...]:
        if self.header_lines is not None:
            return self.header_lines
        return tuple(header_line_length(name, value) for name, value in self.headers.items())


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
        """The body as JSON; ValueError when it is not."""
        return loads(self.body)

    def describe(self, limit: int = 160) -> str:
        """What came back, in one line: for messages about answers a check could not read."""
        head = f"{self.status or 'no status'} {self.content_type or '(no Content-Type)'}, {len(self.body)} bytes"
        shown = self.body[:limit]
        return f"{head}: {shown!r}{'...' if len(self.body) > limit else ''}"

def header_line_length(name: str | bytes, value: str | bytes) -> int:
    """A header line's length without its line end, as a client's reader measures it (`name: value`)."""
    return len(name) + 2 + len(value)


@dataclass
class Exchange:
    number: int
    request: Request
    response: Response | None  # None when nothing came back at all


_INDEX = re.compile(r"\[\d+\]")
_EVENT = re.compile(r"\bevent \d+")


def field_pattern(name: str) -> str:
    """The field with its array indexes and event numbers as `*`: one cause, one line."""
    return _EVENT.sub("event *", _INDEX.sub("[*]", name))


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
        """Violations with the same key have one cause: `data[0].x` and `data[3].x` are `data[*].x`."""
        return self.check, self.operation, field_pattern(self.field)


@dataclass
class Finding:
    """Violations of one (check, operation, field pattern): the first one, how many, and the requests
    behind them (for the curl, the report and `--replay`)."""

    violation: Violation
    count: int = 1
    curl: str | None = None
    reduced: bool = False
    origins: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)  # distinct requests behind it, first first
    hint: str | None = None  # the likely cause, when the run can tell

    @property
    def field(self) -> str:
        return field_pattern(self.violation.field)
