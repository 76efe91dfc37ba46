"""Issue 19's "done when", end to end with real processes: the official Python client calls a timed
`serve --seed 7` through `serve --upstream ... --record`; the upstream stops; a fresh `serve --replay` answers
the same calls with the same bytes, the same event boundaries and the recorded pace; the cassette holds no key."""

from __future__ import annotations

import asyncio
import gc
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from humanloop import Humanloop
from humanloop.exceptions import ApiException

from mockserver.recording import Exchange, load_cassette, split_events
from mockserver.recording.store import side_path
from tests.proxy.timed import TIMED_CONFIG
from tests.support.process import serve_logged

KEY = "sk-live-done-when-0123456789"
PROVIDER = "sk-provider-done-when-987654"
MESSAGES = [{"role": "user", "content": "Plan a weekend in Lisbon."}]


@contextmanager
def served(folder: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A `serve` in a folder of its own (its log there); stopped with SIGTERM, as a user stops it."""
    folder.mkdir()
    with serve_logged(folder, "--log-level", "warning", *args) as (url, process, log):
        try:
            yield url, process, log
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)


def admin(url: str) -> str:
    return url.removesuffix("/v4") + "/__admin"


async def _stream(client: Humanloop, **kwargs: Any) -> list[dict[str, Any]]:
    response = await client.chat_experiment_stream(**kwargs)
    return [chunk async for chunk in response.content]


def official_calls(url: str) -> list[Any]:
    """The five calls of the issue, through the official client; what each gave (an error's status)."""
    client = Humanloop(api_key=KEY, host=url)
    keys = {"openai": PROVIDER}
    results: list[Any] = [client.chat_experiment(experiment_id="exp_timed", messages=MESSAGES,
                                                 provider_api_keys=keys).model_dump()]
    results.append(asyncio.run(_stream(client, experiment_id="exp_timed", messages=MESSAGES, provider_api_keys=keys)))
    results.append(asyncio.run(_stream(client, experiment_id="exp_timed", messages=MESSAGES, num_samples=3,
                                       provider_api_keys=keys)))
    for kwargs in ({"num_samples": 0}, {}):  # a 422, then the call that meets the injected 429
        with pytest.raises(ApiException) as refused:
            client.chat_experiment(experiment_id="exp_timed", messages=MESSAGES, provider_api_keys=keys, **kwargs)
        results.append((refused.value.status, refused.value.body))
    gc.collect()
    return results


def raw_replay(client: httpx.Client, url: str, body: bytes) -> tuple[int, bytes, list[tuple[float, bytes]]]:
    """One request as bytes: status, body, and each piece with its arrival in seconds from the request (on a
    client made beforehand: making one costs tens of milliseconds)."""
    pieces = []
    started = time.monotonic()
    with client.stream("POST", f"{url}/chat-experiment", content=body, timeout=30,
                       headers={"X-API-KEY": KEY, "Content-Type": "application/json"}) as response:
        for piece in response.iter_raw():
            pieces.append((time.monotonic() - started, piece))
    return response.status_code, b"".join(p for _, p in pieces), pieces


def arrivals(pieces: list[tuple[float, bytes]]) -> list[float]:
    """When each event's last byte arrived (events cut from the pieces as a client cuts them)."""
    times, buffer = [], b""
    for at, piece in pieces:
        buffer += piece
        while b"\n\n" in buffer:
            _, buffer = buffer.split(b"\n\n", 1)
            times.append(at)
    return times


def paced_replays(client: httpx.Client, url: str, recorded: list[Exchange], tries: int = 5) -> list[Any]:
    """Replay every recorded exchange as bytes, in order (after a reset: the cassette starts over), checking
    the bytes and the events; for each stream event, its offset from the request against the recorded one:
    (how far off, how far it may be: 10% of the recorded offset, at least 20 ms). A loaded machine can
    delay one run, so the best of `tries` runs is returned."""
    best: list[tuple[float, float]] = []
    for _ in range(tries):
        client.post(f"{admin(url)}/reset", headers={"X-API-KEY": KEY}).raise_for_status()
        found = []
        for exchange in recorded:
            status, body, pieces = raw_replay(client, url, exchange.request.body())
            assert status == exchange.response.status and body == exchange.response.content.body()
            if not exchange.is_stream:
                continue
            assert split_events(body) == exchange.event_bytes()
            offsets = [event.offset_ms / 1000 for event in exchange.response.content.events or []]
            replayed = arrivals(pieces)
            assert len(replayed) == len(offsets) > 3
            found += [(abs(now - was), max(0.1 * was, 0.02)) for was, now in zip(offsets, replayed, strict=True)]
        worst = max(late - allowed for late, allowed in found)
        if not best or worst < max(late - allowed for late, allowed in best):
            best = found
        if worst <= 0:
            break
    return best


def test_record_through_the_proxy_then_replay_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "timed.yaml").write_text(TIMED_CONFIG)
    cassette = tmp_path / "calls.har"
    with served(tmp_path / "upstream", "--seed", "7", "--config", str(tmp_path / "timed.yaml")) as (upstream, _, _):
        httpx.post(f"{admin(upstream)}/faults", json={"status": 429, "retry_after": 1, "match": {"call": 4}},
                   headers={"X-API-KEY": KEY}).raise_for_status()
        with served(tmp_path / "proxy", "--upstream", upstream, "--record", str(cassette)) as (proxy, process, log):
            live = official_calls(proxy)
            journal = httpx.get(f"{admin(proxy)}/requests", headers={"X-API-KEY": KEY}).json()["requests"]
            process.send_signal(signal.SIGTERM)
            process.wait(20)
        assert "recorded 5 exchange(s) to" in log.read_text()
        planned = [e["delays"] for e in httpx.get(f"{admin(upstream)}/requests", headers={"X-API-KEY": KEY}
                                                  ).json()["requests"] if e.get("delays") and e.get("events_planned")]
    assert not side_path(cassette).exists()  # SIGTERM: the cassette was written whole, its side file removed
    # what was recorded: the five calls, by the upstream, keys replaced
    text = cassette.read_text()
    assert KEY not in text and PROVIDER not in text
    recorded = load_cassette(cassette).exchanges
    assert [e.response.status for e in recorded] == [200, 200, 200, 422, 429] == [r["status"] for r in journal]
    assert all(r["answered_by"].startswith("upstream http://127.0.0.1:") for r in journal)
    assert [e.is_stream for e in recorded] == [False, True, True, False, False]
    # the recorded pace is the upstream's: each stream's events are offset by at least the pauses its timing
    # profile planned (a recorder writing no offsets, or the arrival of the whole body at once, fails here)
    streams = [e for e in recorded if e.is_stream]
    assert len(planned) == len(streams) == 2
    for exchange, pauses in zip(streams, planned, strict=True):
        offsets = [event.offset_ms / 1000 for event in exchange.response.content.events or []]
        assert offsets == sorted(offsets) and len(offsets) == len(pauses)
        assert offsets[-1] >= sum(pauses) * 0.95 and offsets[0] >= pauses[0] * 0.95, (offsets, pauses)
    assert live[3][0] == 422 and live[4][0] == 429
    assert len({c["index"] for c in live[2]}) == 3
    # a fresh replay server: the official client gets what it got live
    with served(tmp_path / "replay", "--replay", str(cassette)) as (replay, process, log):
        assert official_calls(replay) == live
        unexpected = httpx.get(f"{admin(replay)}/unexpected", headers={"X-API-KEY": KEY}).json()
        assert [u["reason"] for u in unexpected if u["reason"].startswith("no recording")] == []
        entries = httpx.get(f"{admin(replay)}/requests", headers={"X-API-KEY": KEY}).json()["requests"]
        assert [e["answered_by"] for e in entries] == [  # the JSON call and the refused one are one request
            "recording #0 (answer 1 of 2)", "recording #1 (answer 1 of 1)", "recording #2 (answer 1 of 1)",
            "recording #3 (answer 1 of 1)", "recording #4 (answer 2 of 2)"]
        # ... and byte for byte, event by event, at the recorded pace
        with httpx.Client() as raw:
            deviations = paced_replays(raw, replay, recorded)
        too_far = [(number, late, allowed) for number, (late, allowed) in enumerate(deviations) if late > allowed]
        assert too_far == [], too_far
        print(f"stream events replayed: {len(deviations)}; furthest from its recorded offset: "
              f"{max(late for late, _ in deviations) * 1000:.1f} ms")
        miss = httpx.post(f"{replay}/chat-experiment", headers={"X-API-KEY": KEY},
                          json={"experiment_id": "exp_timed", "messages": [{"role": "user", "content": "Hello"}]})
        assert miss.status_code == 404 and "Nearest: #0" in miss.json()["detail"]
        assert 'body.messages[0].content recorded "Plan a weekend in Lisbon.", received "Hello"' in \
            miss.json()["detail"]
        unexpected = httpx.get(f"{admin(replay)}/unexpected", headers={"X-API-KEY": KEY}).json()
        assert any(u["reason"].startswith("no recording matched: Replay: no recording matches") for u in unexpected)
    assert "replay: 5 of 5 recordings used, 1 request(s) matched none" in log.read_text()
