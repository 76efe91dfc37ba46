"""A vcrpy cassette recorded by vcrpy itself, around the official client calling a served mock,
imported with `humanloop-mock cassette import` and replayed by the matcher, streams included."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import vcr
import yaml
from click.testing import CliRunner
from humanloop import Humanloop

from contracts.streams import joined_outputs
from mockserver import MockSettings, create_app
from mockserver.cli import main
from mockserver.http.server import BackgroundServer
from mockserver.recording import Hit, Replayer, load_cassette
from tests.recording.live import SEED, assert_same_answer, mock_answers

SECRET = "sk-provider-SECRET-42424242"
KEY = "hl-api-key-SECRET-77777777"


async def _official_client_calls(base_url: str) -> tuple[Any, list[Any]]:
    client = Humanloop(api_key=KEY, host=base_url)
    reply = await client.achat_experiment(experiment_id="exp_demo", messages=[{"role": "user", "content": "Hi"}],
                                          provider_api_keys={"openai": SECRET})
    stream = await client.chat_experiment_stream(experiment_id="exp_demo", num_samples=3,
                                                 messages=[{"role": "user", "content": "Tell me more"}])
    return reply, [chunk async for chunk in stream.content]


def test_a_vcrpy_cassette_of_the_official_client_imports_and_replays(tmp_path: Path) -> None:
    recorded = tmp_path / "vcrpy.yaml"
    with BackgroundServer(create_app(MockSettings(seed=SEED))) as server, \
            vcr.VCR(record_mode="all").use_cassette(str(recorded)):
        reply, chunks = asyncio.run(_official_client_calls(server.base_url))
    interactions = yaml.safe_load(recorded.read_text())["interactions"]
    assert len(interactions) == 2 and SECRET in recorded.read_text() and KEY in recorded.read_text()

    out = tmp_path / "cassette.har"
    result = CliRunner().invoke(main, ["cassette", "import", str(recorded), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(vcrpy cassette): imported 2 exchanges (1 streamed)" in result.output
    assert SECRET not in out.read_text() and KEY not in out.read_text()

    exchanges = load_cassette(out).exchanges
    request_bodies = [_as_bytes(i["request"]["body"]) for i in interactions]
    # The import holds what vcrpy stored, byte for byte ...
    assert [e.response.content.body() for e in exchanges] == [_as_bytes(i["response"]["body"]["string"])
                                                            for i in interactions]
    # ... which is what the mock sent (a fresh mock with the same seed answers the same bytes) ...
    for exchange, answer in zip(exchanges, mock_answers(request_bodies), strict=True):
        assert_same_answer(exchange, answer)
    # ... and what the official client read: one event per chunk it yielded, the same texts.
    json_exchange, stream = exchanges
    assert json.loads(json_exchange.response.content.body())["data"][0]["output"] == reply.data[0].output
    assert len(stream.event_bytes()) == len(chunks) and stream.pace == "none"
    assert joined_outputs(stream.response.content.body()) == {
        index: "".join(c["output"] for c in chunks if c["index"] == index) for index in range(3)}

    # Replay: the same calls, however serialised (keys reordered, a `user` added), take them in order.
    replayer = Replayer(load_cassette(out))
    for number, body in enumerate(request_bodies):
        rewritten = json.dumps({**json.loads(body), "user": "someone"}, sort_keys=True, indent=2).encode()
        hit = replayer.answer("POST", "/v4/chat-experiment", rewritten)
        assert isinstance(hit, Hit) and hit.index == number
        recorded = exchanges[number]
        assert [data for _, data in hit.plan(speed=1).sends] == (
            recorded.event_bytes() if recorded.is_stream else [recorded.response.content.body()])
        assert all(delay == 0 for delay, _ in hit.plan(speed=1).sends)  # vcrpy recorded no timing

    # Served by `serve --replay`: the official client gets what it got from the mock.
    app = create_app(MockSettings(replay=str(out)))
    try:
        with BackgroundServer(app) as replaying:
            again, again_chunks = asyncio.run(_official_client_calls(replaying.base_url))
    finally:
        app.traffic.close()
    assert again.model_dump() == reply.model_dump() and again_chunks == chunks


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
