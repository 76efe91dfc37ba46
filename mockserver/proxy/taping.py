"""Cassettes on the answer path: `--record FILE` captures each exchange as it goes out (answered by the
mock, by the upstream, or by a recording), and `--replay FILE` answers from a cassette.

`Recorder` wraps one `CassetteWriter`: `start` when the request's body is in, then the door's
`http.sent.NotingSend` tells the capture the head and every piece of body sent
(`ExchangeCapture.response_head`/`response_bytes`), and `finish` appends the exchange, keys replaced (the
recording package redacts). Recording never fails an answer: an exchange that cannot be written is counted
and logged, and the client still gets its answer.

`ReplaySource` answers from a cassette through `Replayer` (matching, repeats in order, the miss error)
and `replay_plan` (the recorded pace at `speed`), as a `ReplayAnswer`: plain data the server turns into
its delivery (a stream: one send per recorded event, each after its recorded pause; anything else: one
send after the recorded wait).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mockserver.recording import (
    PLACEHOLDER,
    Cassette,
    CassetteError,
    CassetteWriter,
    Exchange,
    ExchangeCapture,
    Hit,
    MatchRules,
    Replayer,
    check_speed,
    load_cassette,
)
from mockserver.recording.store import side_path
from mockserver.sizes import estimate

log = logging.getLogger("humanloop_mock.recording")

AsgiHeaders = Iterable[tuple[bytes, bytes]]


def text_headers(headers: AsgiHeaders) -> list[tuple[str, str]]:
    """ASGI headers as a cassette keeps them (latin-1 text, as HTTP defines header bytes)."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def finished(capture: ExchangeCapture, comment: str | None = None, broken_off: str | None = None) -> Exchange | None:
    """The captured exchange, redacted; None when no answer's head went out (nothing to replay)."""
    try:
        return capture.finish(comment=comment, broken_off=broken_off)
    except ValueError:
        return None


class Recorder:
    """`--record FILE`: captures handed out per request, finished exchanges appended (see the module doc)."""

    def __init__(self, path: str | Path, version: str = "unknown") -> None:
        self.path = Path(path)
        self.writer = CassetteWriter(self.path, version=version)  # CassetteError: the server refuses to start
        self.recorded = 0
        self.failed = 0
        self.last_failure: str | None = None
        self._failed_in_spell = 0
        self._lock = threading.Lock()

    def start(self, method: str, url: str, headers: AsgiHeaders, body: bytes) -> ExchangeCapture:
        """A capture for one request, its clock starting now (call it once the body is in)."""
        return ExchangeCapture(method, url, text_headers(headers), body)

    def finish(self, capture: ExchangeCapture, comment: str | None = None) -> Exchange | None:
        """Append the captured exchange (redacted); the exchange, or None when there was no answer to keep
        (the connection dropped before a head) or it could not be written."""
        exchange = finished(capture, comment)
        return exchange if exchange is not None and self.keep(exchange) else None

    def keep(self, exchange: Exchange) -> bool:
        """Append a finished exchange; False (counted) when it could not be written. A spell of failures
        (a full disk: every exchange fails until there is room) is logged once when it starts and once
        when recording works again, not once per exchange."""
        try:
            self.writer.append(exchange)
        except (CassetteError, OSError) as failed:
            with self._lock:
                self.failed += 1
                self._failed_in_spell += 1
                self.last_failure = str(failed)
                first = self._failed_in_spell == 1
            if first:
                log.warning("an exchange could not be recorded to %s (%s); the next ones that cannot are "
                            "counted, and said when recording works again", self.path, _reason(failed))
            return False
        with self._lock:
            self.recorded += 1
            lost, self._failed_in_spell = self._failed_in_spell, 0
        if lost:
            log.warning("recording to %s works again; %d exchange(s) could not be recorded", self.path, lost)
        return True

    def close(self) -> None:
        """Write the whole cassette (safe twice). CassetteError when it cannot, saying where the recorded
        exchanges are kept (the side file, which loading the cassette reads)."""
        try:
            self.writer.close()
        except (CassetteError, OSError) as failed:
            side = side_path(self.path)
            kept = f"; the exchanges recorded are kept in {side}, which loading {self.path.name} reads" \
                if side.exists() else ""
            raise CassetteError(f"could not finish the cassette {self.path} ({_reason(failed)}){kept}") from None


def _reason(failed: BaseException) -> str:
    """What went wrong, without the path an OSError or a CassetteError repeats."""
    if isinstance(failed, OSError) and failed.strerror:
        return failed.strerror
    return str(failed).rsplit(": ", 1)[-1]


@dataclass(frozen=True)
class ReplayAnswer:
    """A recorded answer as the server sends it: wait `wait` seconds, send the head, then each of `sends`
    after its pause (`pauses[i]` seconds before `sends[i]`). `label` says which recording answered; a miss
    has `miss` set (its detail) and is a 404 in the upstream error shape."""

    status: int
    headers: list[tuple[bytes, bytes]]
    wait: float
    sends: list[bytes]
    pauses: list[float]
    stream: bool
    label: str
    index: int | None = None
    miss: str | None = None
    broken_off: str | None = None  # the recorded answer broke off: so does this one, after its last byte

    @property
    def body(self) -> bytes:
        return b"".join(self.sends)


def _asgi_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Recorded headers for sending: lower-case names, the ones a cassette keeps redacted left out."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
            if value != PLACEHOLDER]


def hit_answer(hit: Hit, speed: float) -> ReplayAnswer:
    plan = hit.plan(speed)
    headers = _asgi_headers(plan.headers)
    cut = hit.exchange.broken_off
    if hit.exchange.is_stream:
        return ReplayAnswer(plan.status, headers, plan.head_delay, [data for _, data in plan.sends],
                            [delay for delay, _ in plan.sends], True, hit.label, hit.index, broken_off=cut)
    delay, body = plan.sends[0] if plan.sends else (0.0, b"")
    if cut is None:  # (an answer that broke off is not announced whole: the client sees it end early)
        headers.append((b"content-length", b"%d" % len(body)))
    return ReplayAnswer(plan.status, headers, plan.head_delay + delay, [body], [0.0], False, hit.label, hit.index,
                        broken_off=cut)


# What a loaded cassette keeps in memory, at most, for cassettes as recorders write them (tracemalloc, 100 to
# 2,000 exchanges, JSON and streams: 1.2 to 7.4 times the file's bytes, with about 8 KB more per exchange and
# 0.9 KB per stream event; `tests/recording/test_cassette_memory.py` holds the estimate above what loading
# keeps, and `ReplaySource.held_bytes(walk=True)` above it for files written to cost more).
CASSETTE_BYTES_PER_FILE_BYTE = 2
CASSETTE_BYTES_PER_EXCHANGE = 8 * 1024
CASSETTE_BYTES_PER_EVENT = 1024


def loaded_cassette_bytes(file_bytes: int, exchanges: int = 0, events: int = 0) -> int:
    """What a cassette of `file_bytes` (its file and any side file) keeps once loaded: with no exchanges or
    events counted yet, the least it can keep (a tenant's share is checked with it before a byte is read)."""
    return (CASSETTE_BYTES_PER_FILE_BYTE * file_bytes + CASSETTE_BYTES_PER_EXCHANGE * exchanges
            + CASSETTE_BYTES_PER_EVENT * events)


@dataclass
class ReplaySource:
    """`--replay FILE` (or a cassette loaded by the fixture or over `/__admin`): answers in recorded order."""

    replayer: Replayer
    speed: float = 1.0
    path: str | None = None
    misses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.speed = check_speed(self.speed)

    @classmethod
    def load(cls, path: str | Path, *, speed: float = 1.0, rules: MatchRules | None = None) -> ReplaySource:
        """From a cassette file (CassetteError naming the file and field when it is not one)."""
        cassette = load_cassette(path)
        return cls.of(cassette, speed=speed, rules=rules, path=str(path))

    @classmethod
    def of(cls, cassette: Cassette | Iterable[Exchange], *, speed: float = 1.0, rules: MatchRules | None = None,
           path: str | None = None) -> ReplaySource:
        return cls(Replayer(cassette, rules or MatchRules()), speed, path)

    def held_bytes(self, file_bytes: int, walk: bool = False) -> int:
        """What this source keeps in memory, loaded from `file_bytes` of cassette (`loaded_cassette_bytes`).
        `walk`: also count what it holds value by value (`sizes.estimate`), and take the larger: a file
        written to cost little to read can hold values that cost much more in memory (`[[],[],...]` is 3
        bytes a list in the file, about 60 in memory). It walks every value, so only for a file whose
        size a tenant's share bounds already."""
        counted = loaded_cassette_bytes(file_bytes, len(self.replayer), self.replayer.events())
        return max(counted, estimate(self.replayer.held_values())) if walk else counted

    def answer(self, method: str, path: str, body: bytes, headers: AsgiHeaders = (), url: str = "") -> ReplayAnswer:
        """The recorded answer to this request, or the miss (404 naming the nearest recordings)."""
        result = self.replayer.answer(method, path, body, text_headers(headers), url)
        if isinstance(result, Hit):
            return hit_answer(result, self.speed)
        with self._lock:
            self.misses += 1
        payload = result.body()
        headers_out = [(b"content-length", b"%d" % len(payload)), (b"content-type", b"application/json")]
        return ReplayAnswer(result.status, headers_out, 0.0, [payload], [0.0], False, "no recording matched",
                            miss=result.detail)

    def add_answered(self, exchange: Exchange) -> int:
        """A fetched answer appended (`--record-on-miss`) as already given: the request that fetched it took
        it, so a repeat of that request is fetched again, as it would have been while recording."""
        index = self.replayer.add(exchange)
        request = exchange.request
        self.replayer.answer(request.method, request.path, request.body(), request.header_pairs(), request.url)
        return index

    def status(self) -> dict[str, object]:
        """What `/__admin` shows of the replay."""
        unused = self.replayer.unused()
        return {"cassette": self.path, "recordings": len(self.replayer), "speed": self.speed,
                "unused": unused, "misses": self.misses, "ignored_fields": list(self.replayer.rules.ignore)}
