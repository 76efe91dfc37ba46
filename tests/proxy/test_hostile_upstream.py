"""Proxy mode against a hostile upstream (raw loopback servers that send what no well-behaved server would)
and what it leaves behind: every answer bounded in memory and time, every failure a clear answer in the
upstream error shape, no key kept, a shutdown in the middle of an endless stream leaving a whole cassette."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver.http.request import SHUTDOWN_CUT
from mockserver.proxy.checking import MAX_JUDGED_EVENTS, MAX_SHOWN_VIOLATIONS, Observed, PassiveChecker
from mockserver.proxy.forward import DECODED_PIECE_BYTES, BoundedDecoder, Upstream, UpstreamLimits
from mockserver.recording import ExchangeCapture, load_cassette
from mockserver.recording.capture import MAX_CAPTURED_EVENTS
from mockserver.recording.events import EventSplitter
from mockserver.world.journal import JournalEntry
from tests.checker.raw_server import FOREVER, Answer, Pause, RawServer, Repeat, json_answer
from tests.conftest import chat_body
from tests.proxy.test_forward import _run
from tests.proxy.test_serve_proxy import HEADERS, KEY, journal, proxy_to, until_judged, violations
from tests.support.process import serve_logged

JSON_TYPE = (("Content-Type", "application/json"),)


def _gzip(data: bytes) -> bytes:
    """gzip of `data`, compressed piece by piece (a bomb's megabytes of zeros never held twice)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join(packer.compress(data[at:at + (1 << 20)]) for at in range(0, len(data), 1 << 20)) + packer.flush()


# ---- encodings: an answer that decodes to far more than it is ----------------------------------------------

@pytest.mark.parametrize("encoding", ["gzip, gzip", "br", "gzip, deflate", "compress"])
def test_an_encoding_the_proxy_does_not_decode_is_a_502_naming_it(encoding: str) -> None:
    """A few kilobytes of gzip inside gzip decode to gigabytes in one step of httpx's decoders (measured: 3.5 KB
    took the proxy to 4.2 GB of memory). One layer of gzip or deflate is decoded, in bounded pieces; any other
    encoding (the proxy asked for identity) is refused before the head goes out."""
    nested = _gzip(_gzip(b"\0" * (8 << 20)))
    encoded = Answer(200, (*JSON_TYPE, ("Content-Encoding", encoding)), (nested,))
    with RawServer(lambda seen: encoded) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
        answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert answer.status_code == 502, answer.text[:200]
        assert f"Content-Encoding {encoding!r}" in answer.json()["detail"]
        assert journal(url)[0]["status"] == 502


def test_a_gzip_bomb_is_decoded_in_bounded_pieces_and_cut_at_the_size_limit() -> None:
    bomb = _gzip(b"\0" * (32 << 20))  # 32 KB on the wire, 32 MiB decoded
    assert len(bomb) < 64 * 1024
    encoded = Answer(200, (*JSON_TYPE, ("Content-Encoding", "gzip")), (bomb,))
    with RawServer(lambda seen: encoded) as server:
        answer, chunks, _ = _run(server.url, UpstreamLimits(max_body_bytes=4 << 20))
    assert chunks and max(len(chunk) for _, chunk in chunks) <= DECODED_PIECE_BYTES
    assert answer.received <= 4 << 20 and "over 4194304 bytes decoded" in (answer.failure or "")


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate"])
@pytest.mark.parametrize("piece", [1, 5, 4096, 1 << 20])
def test_each_decoded_encoding_gives_the_bytes_back_whatever_the_pieces(encoding: str, piece: int) -> None:
    plain = bytes(range(256)) * 2000 + b"\0" * 300_000
    if encoding in ("gzip", "x-gzip"):
        packed = gzip.compress(plain)
    elif encoding == "deflate":
        packed = zlib.compress(plain)
    else:  # deflate without its zlib header, as some servers send it
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = packer.compress(plain) + packer.flush()
    decoder = BoundedDecoder({"x-gzip": "gzip", "raw-deflate": "deflate"}.get(encoding, encoding))
    pieces = [out for at in range(0, len(packed), piece) for out in decoder.decode(packed[at:at + piece])]
    assert b"".join(pieces) == plain and max(map(len, pieces)) <= DECODED_PIECE_BYTES


@pytest.mark.parametrize(("body", "says"), [(b"this is not gzip at all", "is not valid gzip"),
                                            (gzip.compress(b'{"detail": "cut"}' * 100, mtime=0)[:-12], "ended before")],
                         ids=["not-gzip", "cut-short"])
def test_a_body_that_is_not_what_its_encoding_says_breaks_off_naming_it(body: bytes, says: str) -> None:
    encoded = Answer(200, (*JSON_TYPE, ("Content-Encoding", "gzip")), (body,))
    with RawServer(lambda seen: encoded) as server:
        answer, _, _ = _run(server.url)
    assert says in (answer.failure or ""), answer.failure


# ---- odd answers: what the client gets -------------------------------------------------------------------------

def test_a_redirect_to_another_host_is_relayed_never_followed() -> None:
    """The proxy never follows a 3xx (the client's key would go wherever `Location` says): the client gets
    it as sent, the other host sees nothing, the checker flags the status."""
    with RawServer(lambda seen: json_answer(b"{}")) as elsewhere:
        moved = Answer(307, (*JSON_TYPE, ("Location", elsewhere.url + "/v4/chat-experiment")), (b"{}",))
        with RawServer(lambda seen: moved) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
            answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
            assert answer.status_code == 307 and answer.headers["location"].startswith(elsewhere.url)
            found = until_judged(url, 1)
        assert len(upstream.seen) == 1 and elsewhere.seen == []
    assert "status_code_documented" in [check["check"] for check in found["checks"]]


@pytest.mark.parametrize(("head", "status", "says"), [
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
     200, None),
    (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 200, None),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", 502, "broke the HTTP protocol"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 500 Nope\r\nContent-Length: 2\r\n\r\n", 200, None),
    (b"HTTP/1.1 200 OK\r\nSet-Cookie: session=stolen\r\nContent-Length: 2\r\n\r\n", 200, None),
    (b"HTTP/1.1 200 OK\r\nContent-Type: applic", 502, "closed the connection"),
], ids=["100-continue", "103-early-hints", "101-upgrade", "a-second-answer", "set-cookie", "closed-in-the-head"])
def test_odd_answers_get_the_client_the_real_answer_or_a_502_naming_why(head: bytes, status: int,
                                                                        says: str | None) -> None:
    odd = Answer(head=head, parts=(b"{}", "close"))
    with RawServer(lambda seen: odd) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
        answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert answer.status_code == status, answer.text[:300]
        if says is None:
            assert answer.content == b"{}" and "set-cookie" not in answer.headers
        else:
            assert says in answer.json()["detail"] and journal(url)[0]["status"] == 502


# ---- an answer that breaks off is judged ------------------------------------------------------------------

def test_an_answer_the_upstream_broke_off_is_judged_not_counted_as_the_client_leaving() -> None:
    """The proxy drops the client's connection where the upstream broke its answer; that made the journal say
    `client_left`, and the passive checker skipped the exchange as if the client had gone, so a broken
    upstream was reported as 'not judged' instead of as the `response_received` violation it is."""
    broken = Answer(head=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                    parts=(b"5\r\n{\"a\":\r\nZZ\r\n", "close"))
    with RawServer(lambda seen: broken) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        found = until_judged(url, 1)
        assert found["judged"] == 1 and found["not_judged"]["client_left"] == 0
        assert [check["check"] for check in found["checks"]] == ["response_received"]
        assert "illegal chunk header" in found["checks"][0]["latest"]["message"]
        assert journal(url)[0]["violations"][0]["check"] == "response_received"


# ---- keys echoed where the journal did not look ---------------------------------------------------------------

def test_a_key_the_upstream_echoes_in_its_answers_headers_is_kept_nowhere(tmp_path: Path) -> None:
    def echo(seen: Any) -> Answer:
        key = seen.headers["x-api-key"]
        return Answer(401, (*JSON_TYPE, ("WWW-Authenticate", f'Bearer realm="{key}"'),
                            ("Location", f"http://elsewhere.example/?k={key}"), ("Retry-After", key)),
                      (b'{"detail": "no"}',))

    cassette = tmp_path / "echo.har"
    with RawServer(echo) as upstream, proxy_to(upstream.url + "/v4", record=str(cassette)) as (url, app):
        answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert answer.headers["retry-after"] == KEY  # the client gets the answer as sent
        until_judged(url, 1)
        entry = journal(url)[0]
        page = httpx.get(url.removesuffix("/v4") + "/__admin/", headers=HEADERS).text
        kept = json.dumps(entry) + json.dumps(violations(url)) + page
        app.traffic.close()
    assert entry["response_headers"]["retry-after"] == "[redacted]"
    assert KEY not in kept and KEY not in cassette.read_text()


@pytest.mark.parametrize("where", ["status line", "header line", "chunk header"])
def test_a_key_quoted_in_the_upstreams_protocol_error_is_kept_nowhere(tmp_path: Path, where: str) -> None:
    """httpx's parser quotes the bytes it refuses (`illegal header line: bytearray(b'...')`): an upstream that
    puts the client's key there had it kept in the journal's `error`, the access log and the cassette's
    `_brokenOff` and `comment` (the 502 the client gets may quote it: the key is the client's own)."""
    def garbled(seen: Any) -> Answer:
        key = seen.headers["x-api-key"].encode()
        if where == "status line":
            return Answer(head=b"HTTP/1.1 " + key + b" OK\r\n\r\n", parts=(b"{}", "close"))
        if where == "header line":
            return Answer(head=b"HTTP/1.1 200 OK\r\nBroken " + key + b"\r\n\r\n", parts=(b"{}", "close"))
        return Answer(head=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                      parts=(b"2\r\n{}\r\n" + key + b"\r\n", "close"))

    cassette, report = tmp_path / "garbled.har", tmp_path / "report.json"
    with RawServer(garbled) as upstream, serve_logged(tmp_path, "--upstream", upstream.url + "/v4", "--record",
                                                      str(cassette), "--report", str(report)) as (url, process, log):
        try:
            answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
            assert answer.status_code == 502 and "illegal" in answer.json()["detail"]
        except httpx.HTTPError:  # the chunk header: the answer had begun, so it breaks off
            assert where == "chunk header"
        until_judged(url, 1)
        entry = journal(url)[0]
        kept = json.dumps(entry) + json.dumps(violations(url))
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert "illegal" in entry["error"] and "[redacted]" in entry["error"]  # the error is kept, the key is not
    written = kept + log.read_text() + cassette.read_text() + report.read_text()
    assert KEY not in written


# ---- bounded work for what a hostile upstream sends ----------------------------------------------------------

def test_a_captured_stream_keeps_at_most_so_many_events_and_every_byte() -> None:
    """Millions of tiny events cost a kilobyte and microseconds each when the exchange is written (16 MiB of
    them: 30 s with the server's loop blocked, 1.2 GB); past the bound the rest is one last piece."""
    event = b'data: {"n": 0}\n\n'
    count = MAX_CAPTURED_EVENTS * 2 + 7
    body = event * count + b"data: unfinished"
    capture = ExchangeCapture("POST", "http://127.0.0.1:1/v4/chat-experiment", [], b"{}")
    capture.response_head(200, [("content-type", "text/event-stream")])
    for at in range(0, len(body), 1000):
        capture.response_bytes(body[at:at + 1000])
    events = capture.finish().response.content.events
    assert events is not None and len(events) == MAX_CAPTURED_EVENTS
    assert all(e.data() == event for e in events[:-1])
    assert b"".join(e.data() for e in events) == body


def _tiny_events(count: int) -> Observed:
    """A stream of `count` tiny events, each a violation of the event shape."""
    request = json.dumps(chat_body(stream=True)).encode()
    return Observed(1, "POST", "/chat-experiment", request, 200, {"content-type": "text/event-stream"},
                    b'data: {"n": 0}\n\n' * count, api_key=KEY)


def test_a_stream_of_more_events_than_the_bound_is_counted_not_judged() -> None:
    """8 MiB of tiny events (half a million) held the checker's thread for minutes (1 MiB: 2.6 s, 4 MiB:
    24 s) and gave the journal entry a violation per event."""
    checker = PassiveChecker(max_judged_events=100)
    assert checker.submit(_tiny_events(101)) is False
    assert checker.book.not_judged["too_many_events"] == 1 and checker.book.judged == 0
    assert PassiveChecker().max_judged_events == MAX_JUDGED_EVENTS >= 8 * 1024 * 1024 // 300  # real events


def test_a_journal_entry_lists_so_many_violations_and_the_counts_take_them_all() -> None:
    checker = PassiveChecker()
    shown = checker.judge_now(_tiny_events(MAX_SHOWN_VIOLATIONS + 50))
    assert shown is not None and len(shown) == MAX_SHOWN_VIOLATIONS
    assert checker.book.to_json()["violations"] > MAX_SHOWN_VIOLATIONS + 49


def _seconds(work: Any) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _ratio(work: Any, baseline: Any) -> float:
    """How many times as long `work` takes as `baseline`, the same bytes handled in one go, in this process
    (a ratio, never a time): a few times for work that handles each piece once, hundreds for work that copies
    or searches all it holds again for every piece."""
    return _seconds(work) / max(_seconds(baseline), 1e-9)


def test_the_journal_keeps_an_answer_of_many_pieces_in_linear_time() -> None:
    pieces = [b"x" * 4096] * 4096  # 16 MiB

    def relay(pieces: list[bytes]) -> None:
        entry = JournalEntry(0, "POST", "/v4/chat-experiment", "", b"", b"")
        entry.note_response_start(200, [(b"content-type", b"application/json")])
        for piece in pieces:
            entry.add_response_chunk(piece)
        assert len(entry.response_bytes) == 16 << 20

    ratio = _ratio(lambda: relay(pieces), lambda: relay([b"".join(pieces)]))
    assert ratio < 50, f"4,096 pieces took {ratio:.0f} times as long as one"


def test_an_event_that_never_ends_is_searched_in_linear_time() -> None:
    pieces = [b"data: " + b"a" * 2042 + b"\r"] * 512  # 1 MiB, one event that never ends (lone CRs inside)

    def split(pieces: list[bytes]) -> None:
        splitter = EventSplitter()
        for piece in pieces:
            assert splitter.feed(piece) == []
        assert len(splitter.close()[0]) == 512 * 2049

    ratio = _ratio(lambda: split(pieces), lambda: split([b"".join(pieces)]))
    assert ratio < 30, f"512 pieces took {ratio:.0f} times as long as one"


def test_too_many_open_requests_get_a_502_naming_the_proxys_own_bound() -> None:
    slow = Answer(200, JSON_TYPE, (Pause(3.0), b"{}"))

    async def three_at_once(base: str) -> list[int | str]:
        upstream = Upstream(base, UpstreamLimits(max_connections=2, connect_seconds=0.5))
        try:
            answers = await asyncio.gather(*(upstream.forward("POST", "/v4/chat-experiment", "", [], b"{}")
                                             for _ in range(3)))
            for answer in answers:
                await answer.aclose()
            return sorted((a.status, a.failure or "") for a in answers)
        finally:
            await upstream.aclose()

    with RawServer(lambda seen: slow) as server:
        found = asyncio.run(three_at_once(server.url))
    assert [status for status, _ in found] == [200, 200, 502]
    assert "already has 2 requests open to upstream" in found[2][1]


# ---- shutting down in the middle of an endless stream ---------------------------------------------------------

def test_sigterm_during_an_endless_upstream_stream_leaves_a_whole_cassette_that_says_so(tmp_path: Path) -> None:
    """uvicorn cancels an answer still running at the shutdown timeout but does not wait for it: the cassette
    and the report were written before the cancelled exchange noted how it ended, so it was lost. Now the
    server waits for it briefly; the cassette holds it, broken off, and replays it as it went."""
    endless = Answer(200, (("Content-Type", "text/event-stream"),), (Repeat(b'data: {"n": 0}\n\n', FOREVER, 0.01),),
                     content_length=False)
    cassette, report = tmp_path / "endless.har", tmp_path / "report.json"
    with RawServer(lambda seen: endless) as upstream, serve_logged(
            tmp_path, "--upstream", upstream.url + "/v4", "--record", str(cassette), "--report", str(report),
            "--shutdown-timeout", "1") as (url, process, log):
        with httpx.stream("POST", f"{url}/chat-experiment", headers=HEADERS, json=chat_body(stream=True)) as answer:
            stream = answer.iter_raw()
            assert next(stream).startswith(b"data: ")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            with pytest.raises(httpx.HTTPError):
                for _ in stream:
                    pass
        process.wait(20)
        took = time.monotonic() - started
        deadline = time.monotonic() + 5  # the upstream's connection is closed too
        while upstream._tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not upstream._tasks
    assert took < 1 + 2 + 5, took  # the shutdown timeout, the watchdog's grace, writing the files on a busy machine
    text = log.read_text()
    assert "Traceback" not in text and "recorded 1 exchange(s)" in text and "1 shutdown" in text, text[-2000:]
    exchanges = load_cassette(cassette).exchanges
    assert len(exchanges) == 1 and exchanges[0].broken_off == SHUTDOWN_CUT
    assert exchanges[0].response.content.events  # what went out before the shutdown
    assert json.loads(report.read_text())["exchanges"]["not_judged"]["shutdown"] == 1


def test_files_written_after_the_server_stopped_are_not_cut_by_the_shutdown_watchdog(tmp_path: Path) -> None:
    """The watchdog that ends a stuck shutdown ran on while the cassette was written: a 64 MiB recorded answer
    (3 s to write) was cut half-way, the process exiting 143 with a temporary file left."""
    script = textwrap.dedent("""
        import os, signal, threading, time
        from mockserver import MockSettings, create_app
        from mockserver.http.server import FORCE_GRACE_SECONDS, MockServer, bind_socket, uvicorn_config
        sock = bind_socket("127.0.0.1", 0)
        server = None
        def written():
            time.sleep(FORCE_GRACE_SECONDS + 1.5)  # writing a large cassette
            print("all written", flush=True)
        config = uvicorn_config(create_app(MockSettings()))
        config.timeout_graceful_shutdown = 0.2
        server = MockServer(config, on_stopped=written)
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
        server.run(sockets=[sock])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parents[2])
    assert "all written" in done.stdout, done.stdout + done.stderr
    assert "did not finish in time" not in done.stderr
