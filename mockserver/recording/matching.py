"""Which recorded exchange answers a request on replay, and what a request that matches none gets.

A request matches a recording with the same method, the same path, and the same canonical body:
the body redacted as the cassette keeps it, parsed as JSON, the ignored fields dropped, written with
sorted keys and no spaces (integral numbers as integers: `1.0` is `1`). So key order, spacing and a
real key where the cassette has `[redacted]` make no difference. A body that is not JSON must be
equal byte for byte. The query string is not compared (the v4 API has none that matter).

Ignored fields are paths from the body's top level, dotted (`user`, `inputs.session`, `messages.*.name`,
where `*` is any key or list item). The default, `user` and `metadata`, drops those two top-level
fields only: a `metadata` inside `inputs` fills a template and does change the answer.

Identical requests take the recordings made for them in the order they were recorded, each once.
When they are used up, the default is a miss (the code under test made a call more than when it was
recorded, which is worth knowing); `when_used_up="repeat-last"` answers with the last one again.

A miss is a 404 in the upstream error shape, `{"detail": "..."}`, naming the nearest recordings and
how they differ. 404 because nothing recorded exists for that request (WireMock answers an unmatched
request the same way), because it is a status the official clients map to an ordinary API error, and
because clients and retry loops do not retry it as they would a 5xx or a 429. A 422 would read as
"your request is invalid", which it is not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from contracts.errors import ErrorResponse
from mockserver.jsonio import too_deep
from mockserver.recording.bodydiff import ABSENT, Difference, differences
from mockserver.recording.har import Cassette, Exchange
from mockserver.recording.pacing import ReplayPlan, replay_plan
from mockserver.recording.redact import redact_request_body

DEFAULT_IGNORE = ("user", "metadata")
NEAREST = 3  # recordings a miss names
SHOWN_DIFFERENCES = 4  # differences a miss lists for each


@dataclass(frozen=True)
class MatchRules:
    """What a replay compares. `ignore`: body fields left out (see the module docstring);
    `when_used_up`: what a request gets once its recordings were all used."""

    ignore: tuple[str, ...] = DEFAULT_IGNORE
    when_used_up: Literal["miss", "repeat-last"] = "miss"


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _drop(node: Any, segments: list[str]) -> None:
    head, rest = segments[0], segments[1:]
    if isinstance(node, dict):
        children = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        children = list(range(len(node))) if head == "*" else [int(head)] if head.isdigit() and int(head) < len(
            node) else []
    else:
        return
    if not rest:
        for key in sorted(children, reverse=True) if isinstance(node, list) else children:  # from the end
            del node[key]
        return
    for key in children:
        _drop(node[key], rest)


@dataclass(frozen=True)
class RequestShape:
    """What matching compares of one request: `key` is method, path and canonical body in one string."""

    method: str
    path: str
    body: Any  # the parsed body without ignored fields, or the raw text if it is not JSON
    is_json: bool
    key: str


def request_shape(method: str, path: str, body: bytes, rules: MatchRules = MatchRules(),
                  headers: Sequence[tuple[str, str]] = (), url: str = "") -> RequestShape:
    """The shape of a request as received (it is redacted here, as the cassette's requests were)."""
    method = method.upper()
    redacted = redact_request_body(body, headers, url)
    try:
        if too_deep(redacted):  # compared as text, on every Python (how deep json reaches depends on the version)
            raise ValueError("nested too deep")
        parsed = json.loads(redacted, parse_float=_number)
        for path_text in rules.ignore:
            _drop(parsed, path_text.split("."))
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        text = redacted.decode("utf-8", errors="replace")
        return RequestShape(method, path, text, False, f"{method} {path}\nraw:{text}")
    return RequestShape(method, path, parsed, True, f"{method} {path}\njson:{canonical}")


def shape_of(exchange: Exchange, rules: MatchRules = MatchRules()) -> RequestShape:
    request = exchange.request
    return request_shape(request.method, request.path, request.body(), rules, request.header_pairs(), request.url)


def shape_differences(recorded: RequestShape, received: RequestShape) -> list[Difference]:
    found = [Difference(name, a, b) for name, a, b in (("method", recorded.method, received.method),
                                                        ("path", recorded.path, received.path)) if a != b]
    if recorded.is_json and received.is_json:
        return found + differences(recorded.body, received.body)
    if recorded.is_json != received.is_json or recorded.body != received.body:
        found.append(Difference("body", recorded.body if recorded.body != "" else ABSENT,
                                received.body if received.body != "" else ABSENT))
    return found


@dataclass(frozen=True)
class Hit:
    """A recording answers: number `index` in the cassette, the `use`-th answer to this request of `of`."""

    index: int
    exchange: Exchange
    use: int
    of: int

    def plan(self, speed: float = 1.0) -> ReplayPlan:
        return replay_plan(self.exchange, speed)

    @property
    def label(self) -> str:
        """What the journal says answered."""
        again = ", repeating the last" if self.use > self.of else ""
        return f"recording #{self.index} (answer {self.use} of {self.of}{again})"


@dataclass(frozen=True)
class NearMiss:
    index: int
    method: str
    path: str
    differences: list[Difference]

    def describe(self) -> str:
        shown = "; ".join(d.describe() for d in self.differences[:SHOWN_DIFFERENCES])
        more = len(self.differences) - SHOWN_DIFFERENCES
        return f"#{self.index} ({self.method} {self.path}): {shown}" + (f" (and {more} more)" if more > 0 else "")


@dataclass(frozen=True)
class Miss:
    """No recording answers. `used_up`: recordings of exactly this request, all used already;
    `nearest`: the closest other recordings, closest first, with how they differ."""

    method: str
    path: str
    used_up: list[int]
    nearest: list[NearMiss]
    ignored: tuple[str, ...]
    recorded: int
    status: ClassVar[int] = 404

    @property
    def detail(self) -> str:
        request = f"{self.method} {self.path}"
        if self.used_up:
            numbers = ", ".join(f"#{i}" for i in self.used_up)
            return (f"Replay: every recording of this {request} request was used ({numbers}: "
                    f"{len(self.used_up)} of {len(self.used_up)}); each recorded answer is given once, in order.")
        compared = "method, path and JSON body" + (f", ignoring {', '.join(self.ignored)}" if self.ignored else "")
        if not self.recorded:
            return f"Replay: no recording matches {request}: the cassette holds no exchanges."
        nearest = " ".join(f"{near.describe()}." for near in self.nearest)
        return f"Replay: no recording matches {request} ({compared}). Nearest: {nearest}"

    def body(self) -> bytes:
        """The answer's body: `{"detail": "..."}`, as every non-422 upstream error."""
        return ErrorResponse(detail=self.detail).model_dump_json().encode()


@dataclass
class _Queue:
    indexes: list[int] = field(default_factory=list)
    used: int = 0


class Replayer:
    """Answers requests from recorded exchanges (see the module docstring). Thread-safe."""

    def __init__(self, exchanges: Cassette | Iterable[Exchange] = (), rules: MatchRules = MatchRules()) -> None:
        self.rules = rules
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._shapes: list[RequestShape] = []
        self._queues: dict[str, _Queue] = {}
        for exchange in exchanges.exchanges if isinstance(exchanges, Cassette) else exchanges:
            self.add(exchange)

    def add(self, exchange: Exchange) -> int:
        """Appends a recording (a fetched miss, say); returns its number."""
        shape = shape_of(exchange, self.rules)
        with self._lock:
            self._exchanges.append(exchange)
            self._shapes.append(shape)
            self._queues.setdefault(shape.key, _Queue()).indexes.append(len(self._exchanges) - 1)
            return len(self._exchanges) - 1

    def answer(self, method: str, path: str, body: bytes, headers: Sequence[tuple[str, str]] = (),
               url: str = "") -> Hit | Miss:
        """The recording that answers this request, or why none does."""
        shape = request_shape(method, path, body, self.rules, headers, url)
        with self._lock:
            queue = self._queues.get(shape.key)
            if queue is not None and (queue.used < len(queue.indexes) or self.rules.when_used_up == "repeat-last"):
                queue.used += 1
                index = queue.indexes[min(queue.used, len(queue.indexes)) - 1]
                return Hit(index, self._exchanges[index], queue.used, len(queue.indexes))
            shapes = list(enumerate(self._shapes))
        if queue is not None:
            return Miss(shape.method, path, list(queue.indexes), [], self.rules.ignore, len(shapes))
        return Miss(shape.method, path, [], _nearest(shape, shapes), self.rules.ignore, len(shapes))

    def rewind(self) -> None:
        """Every recording unused again, as when loaded."""
        with self._lock:
            for queue in self._queues.values():
                queue.used = 0

    def unused(self) -> list[int]:
        """Recordings no request has taken yet."""
        with self._lock:
            return sorted(i for q in self._queues.values() for i in q.indexes[q.used:])

    def __len__(self) -> int:
        return len(self._exchanges)

    def held_values(self) -> list[Any]:
        """What the replayer keeps, for a size estimate: each recording, and what matching compares of it
        (a request body is kept parsed: its size in memory is not its size in the file)."""
        with self._lock:
            return [*self._exchanges, *[(shape.body, shape.key) for shape in self._shapes]]

    def events(self) -> int:
        """How many stream events the recordings hold (a loaded cassette's cost grows with them)."""
        with self._lock:
            return sum(len(exchange.response.content.events or ()) for exchange in self._exchanges)


def _nearest(shape: RequestShape, recorded: list[tuple[int, RequestShape]]) -> list[NearMiss]:
    scored = []
    for index, other in recorded:
        found = shape_differences(other, shape)
        rank = (other.method != shape.method or other.path != shape.path, len(found), index)
        scored.append((rank, NearMiss(index, other.method, other.path, found)))
    scored.sort(key=lambda item: item[0])
    return [near for _, near in scored[:NEAREST]]
