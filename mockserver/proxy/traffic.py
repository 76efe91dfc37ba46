"""Where answers come from when they do not come from the generator, and what watches them: the one object
the door asks (`Traffic`), made from `serve`'s flags.

For each API request (a path under `/v4`), after its body is in and journaled:

1. the world's scripts and faults come first: a chat call one of them matches is answered by the mock, as
   always (a fault answers without calling the upstream);
2. a cassette loaded for the world (the fixture's `replay`, `POST /__admin/cassette`) or for the server
   (`--replay`) answers next: the recorded answer, or a miss (404 naming the nearest recordings), or with
   `--record-on-miss` the upstream's answer, appended to the cassette;
3. with `--upstream`, the upstream answers (relayed as it arrives);
4. otherwise the mock answers.

With `--record`, every exchange (whoever answered) is captured as it goes out and appended to a cassette;
every exchange the upstream answered is judged by the passive checker after it went out. The journal entry
says who answered (`answered_by`), and carries the checker's violations once judged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockserver.http.request import SHUTDOWN_CUT
from mockserver.pipeline.chat import parse_chat
from mockserver.pipeline.delivery import Delivery, Paced, Relayed, Whole
from mockserver.pipeline.outgoing import match_ahead
from mockserver.proxy.checking import Observed, PassiveChecker, ViolationBook
from mockserver.proxy.forward import Upstream, UpstreamAnswer
from mockserver.proxy.outputs import RunFacts, summary_line, write_junit, write_report
from mockserver.proxy.taping import Recorder, ReplayAnswer, ReplaySource, finished
from mockserver.recording import ExchangeCapture, MatchRules
from mockserver.spec.rules import call_matches
from mockserver.world import provider_keys
from mockserver.world.heavy import HEAVY_BODY_BYTES

if TYPE_CHECKING:
    from mockserver.http.request import Request
    from mockserver.settings import MockSettings
    from mockserver.world.context import MockContext
    from mockserver.world.journal import JournalEntry

log = logging.getLogger("humanloop_mock.proxy")

API_PREFIX = "/v4"
CHAT_PATH = "/v4/chat-experiment"
MOCK = "mock"


@dataclass
class Taken:
    """What one request got from a source: the answer to deliver, who gave it, and what to do after."""

    delivery: Delivery
    answered_by: str
    upstream: UpstreamAnswer | None = None  # an upstream answer, to be judged once relayed
    unexpected: str | None = None  # a replay miss: why nothing recorded answered
    add_to: ReplaySource | None = None  # --record-on-miss: the cassette that takes the fetched answer


@dataclass
class Traffic:
    """The sources and watchers of one server (see the module doc)."""

    upstream: Upstream | None = None
    replay: ReplaySource | None = None
    recorder: Recorder | None = None
    miss_recorder: Recorder | None = None  # --record-on-miss: appends fetched answers to the replayed cassette
    checker: PassiveChecker | None = None
    started: float = field(default_factory=time.monotonic)
    closed: bool = False

    @property
    def active(self) -> bool:
        """Whether anything server-wide answers or watches (a world's own cassette is asked separately)."""
        return (self.upstream is not None or self.replay is not None or self.recorder is not None
                or self.miss_recorder is not None)  # (`records` spelled out: this is asked on every request)

    @classmethod
    def from_settings(cls, settings: MockSettings, version: str | None = None) -> Traffic:
        """The server's traffic (idle without any of its flags). Raises ValueError or CassetteError with a
        message for a bad flag, before the server starts."""
        if not (settings.upstream or settings.record or settings.replay):
            return cls()
        version = version or _version()
        if settings.record_on_miss and not (settings.upstream and settings.replay):
            raise ValueError("--record-on-miss needs --replay FILE and --upstream URL (it fetches what the "
                             "cassette lacks and appends it)")
        rules = MatchRules(ignore=settings.replay_ignore)
        replay = ReplaySource.load(settings.replay, speed=settings.replay_speed, rules=rules) if settings.replay \
            else None
        upstream = Upstream(settings.upstream, ca_bundle=settings.upstream_ca_bundle) if settings.upstream \
            else None  # (nothing to close before it)
        traffic = cls(upstream=upstream, replay=replay,
                      checker=PassiveChecker().start() if upstream is not None else None)
        try:
            if settings.record:
                traffic.recorder = Recorder(settings.record, version)
            if settings.record_on_miss and settings.replay:
                if settings.record and Path(settings.record).resolve() == Path(settings.replay).resolve():
                    raise ValueError("--record and --replay name the same file: with --record-on-miss the "
                                     "fetched answers are appended to the replayed cassette already")
                traffic.miss_recorder = Recorder(settings.replay, version)
        except BaseException:
            traffic.close()
            raise
        return traffic

    # ---- answering -------------------------------------------------------------------------------------

    async def take(self, request: Request, path: str) -> Taken | None:
        """The answer a source gives this API request, or None for the mock to answer it."""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return None
        world = request.world
        replay = world.replay if world.replay is not None else self.replay
        if replay is None and self.upstream is None:
            return None
        if path == CHAT_PATH and request.method == "POST" and await _mock_rules_first(world, request):
            return None
        if replay is not None:
            answer = replay.answer(request.method, path, request.body, request.raw_headers, _url(request, path))
            if answer.miss is None or not (self.upstream is not None and self.miss_recorder is not None
                                           and replay is self.replay):
                return replayed(answer)
            taken = await self._forward(request, path)
            taken.add_to = replay
            taken.answered_by = f"upstream {self.upstream.origin} (no recording matched: fetched and recorded)"
            return taken
        return await self._forward(request, path)

    async def _forward(self, request: Request, path: str) -> Taken:
        assert self.upstream is not None
        answer = await self.upstream.forward(request.method, path, request.query_string, request.raw_headers,
                                             request.body)
        relayed = Relayed(answer.status, answer.headers, answer.chunks(),
                          cut=lambda: answer.failure if answer.reached else None)
        if not answer.reached:
            relayed.error = answer.failure
        return Taken(relayed, f"upstream {self.upstream.origin}", upstream=answer)

    # ---- recording -------------------------------------------------------------------------------------

    @property
    def records(self) -> bool:
        return self.recorder is not None or self.miss_recorder is not None

    def capture(self, request: Request, path: str) -> ExchangeCapture | None:
        """A capture for this request when anything records (its clock starts now)."""
        if not self.records:
            return None
        return ExchangeCapture(request.method, _url(request, path), _text(request.raw_headers), request.body)

    # ---- after the answer went out ---------------------------------------------------------------------

    def finished(self, request: Request, entry: JournalEntry, taken: Taken | None,
                 capture: ExchangeCapture | None) -> None:
        """Record the exchange, hand it to the checker, note who answered. Never raises."""
        try:
            self._finished(request, entry, taken, capture)
        except Exception:  # what watches an answer must never break the server
            log.exception("recording or checking an exchange failed")

    def _finished(self, request: Request, entry: JournalEntry, taken: Taken | None,
                  capture: ExchangeCapture | None) -> None:
        label = taken.answered_by if taken is not None else MOCK
        entry.answered_by = label
        if taken is not None:  # not the mock's answer: it may echo the request's credential headers
            secrets: list[str] = []
            provider_keys.header_secrets(request.raw_headers, secrets)
            entry.hide_also(secrets)
        if taken is not None and taken.unexpected is not None:
            entry.unexpected = taken.unexpected
        broken_off = request.broken_off or (SHUTDOWN_CUT if request.closed_by == SHUTDOWN_CUT else None)
        if broken_off is not None:
            comment = f"{label} (the answer broke off: {broken_off})"
        else:
            comment = label + (" (the client left before the end)" if entry.client_left else "")
        exchange = finished(capture, comment, broken_off) if capture is not None else None
        if exchange is not None:
            if self.recorder is not None:
                self.recorder.keep(exchange)
            if taken is not None and taken.add_to is not None and self.miss_recorder is not None \
                    and self.miss_recorder.keep(exchange):
                taken.add_to.add_answered(exchange)
        if taken is not None and taken.upstream is not None and self.checker is not None:
            if request.closed_by == SHUTDOWN_CUT:  # not the upstream's doing
                self.checker.book.skipped("shutdown")
            elif entry.client_left and request.broken_off is None:  # the client left: the rest was not read
                self.checker.book.skipped("client_left")
            else:
                self._check(request, entry, taken.upstream)

    def _check(self, request: Request, entry: JournalEntry, answer: UpstreamAnswer) -> None:
        assert self.checker is not None
        body = b"".join(entry.stream_chunks or ()) if entry.is_stream else entry.response_bytes
        path = entry.path[len(API_PREFIX):] or "/"
        observed = Observed(entry.seq, request.method, path,
                            request.body if request.body or request.method not in ("GET", "HEAD", "DELETE")
                            else None,
                            entry.status or 0, dict(entry.response_headers), body, api_key=request.key,
                            first_byte_seconds=answer.first_byte_seconds,
                            total_seconds=answer.total_seconds or answer.first_byte_seconds,
                            error=answer.failure if answer.reached else None, source=entry.answered_by or "",
                            request_headers=list(request.raw_headers), query=request.query_string)

        def note(violations: list[dict[str, Any]]) -> None:
            entry.violations = tuple(violations)

        self.checker.submit(observed, note)

    # ---- what the admin shows, and the end -------------------------------------------------------------

    def violations(self) -> dict[str, Any]:
        book = self.checker.book if self.checker is not None else ViolationBook()
        return {"checking": self.checker is not None, **book.to_json()}

    def rewind(self) -> None:
        if self.replay is not None:
            self.replay.replayer.rewind()

    def close(self, report: str | None = None, junit: str | None = None) -> list[str]:
        """Judge what is queued, write `--report`/`--junit`, close the cassettes; the summary lines (none
        the second time)."""
        if self.closed:
            return []
        self.closed = True
        lines = []
        if self.checker is not None:
            if not self.checker.close(10):
                lines.append("passive checks: not every exchange was judged before shutdown")
            facts = RunFacts("proxy", self.upstream.origin if self.upstream else "", time.monotonic() - self.started)
            for path, write in ((report, write_report), (junit, write_junit)):
                if path:
                    try:
                        write(self.checker.book, facts, path)
                        lines.append(f"passive checks written to {path}")
                    except OSError as failed:
                        lines.append(f"could not write {path}: {failed.strerror}")
            lines.insert(0, summary_line(self.checker.book))
        for recorder in (self.recorder, self.miss_recorder):
            if recorder is not None:
                try:
                    recorder.close()
                    lines.append(f"recorded {recorder.recorded} exchange(s) to {recorder.path}"
                                 + (f" ({recorder.failed} could not be written)" if recorder.failed else ""))
                except Exception as failed:  # (CassetteError says which cassette and where its exchanges are)
                    lines.append(f"{failed} ({recorder.recorded} exchange(s) recorded, {recorder.failed} could "
                                 "not be)")
        if self.replay is not None:
            unused = self.replay.replayer.unused()
            lines.append(f"replay: {len(self.replay.replayer) - len(unused)} of {len(self.replay.replayer)} "
                         f"recordings used, {self.replay.misses} request(s) matched none")
        return lines


def replayed(answer: ReplayAnswer) -> Taken:
    """A recorded answer (or a miss) as the door delivers it."""
    if answer.miss is not None:
        whole = Whole(answer.status, answer.headers, answer.body, error=answer.miss)
        return Taken(whole, "replay: no recording matched", unexpected=answer.miss)
    if answer.stream or answer.broken_off is not None:  # (one that broke off ends as it did: dropped)
        return Taken(Paced(answer.status, answer.headers, answer.sends, answer.pauses, wait=answer.wait,
                           broken_off=answer.broken_off), answer.label)
    return Taken(Whole(answer.status, answer.headers, answer.body, wait=answer.wait), answer.label)


async def _mock_rules_first(world: MockContext, request: Request) -> bool:
    """Whether one of the world's scripts or faults matches this chat call (the mock then answers it). A
    call any source answers is still counted, so `match.call` counts every chat call the server got."""
    rules = world.rules
    try:  # as the chat route parses it (a large body in turns, the rules' regexes run ahead)
        if len(request.body) > HEAVY_BODY_BYTES:
            parsed = await world.turns.run(world, parse_chat, world.memo, request.body, request.content_type)
            await match_ahead(world, parsed)
        else:
            parsed = parse_chat(world.memo, request.body, request.content_type)
    except Exception:  # a body the mock refuses: the source judges it (the upstream may answer otherwise)
        return False
    if rules.scripts or rules.faults:
        call = world.state.counters.get("chat-call", 0) + 1
        for rule in [*rules.faults, *rules.scripts]:
            if not rule.exhausted and call_matches(rule.spec.match, parsed.request, call):
                return True
    world.state.next_call()
    return False


def _version() -> str:
    try:
        return metadata.version("humanloop-mock")
    except metadata.PackageNotFoundError:
        return "unknown"


def _url(request: Request, path: str) -> str:
    query = request.query_string.decode("latin-1")
    return f"http://{request.host or '127.0.0.1'}{path}" + (f"?{query}" if query else "")


def _text(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]

