"""`humanloop-mock cassette import` and `cassette show`: what they print, and their errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from mockserver.cli import main
from mockserver.recording import CassetteWriter, load_cassette
from tests.recording.factory import chat, event, json_exchange, stream_exchange

STREAM = b"".join(event({"data": [{"index": 0, "output": word}]}) for word in ("a", "b", "c"))


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["cassette", *args])


def _interaction(uri: str, body: str | bytes, response: str | bytes, content_type: str) -> dict[str, object]:
    return {"request": {"method": "POST", "uri": uri, "body": body, "headers": {"X-API-KEY": ["secret-key-0123"]}},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {"Content-Type": [content_type]},
                         "body": {"string": response}}}


def test_import_a_vcrpy_yaml_with_bytes_bodies_and_a_stream(tmp_path: Path) -> None:
    source = tmp_path / "vcr.yaml"
    source.write_text(yaml.safe_dump({"version": 1, "interactions": [
        _interaction("https://api.humanloop.com/v4/chat-experiment", json.dumps(chat()).encode(),
                     b'{"data": []}', "application/json"),
        _interaction("https://api.humanloop.com/v4/chat-experiment", json.dumps(chat(stream=True)), STREAM,
                     "text/event-stream"),
        _interaction("https://api.openai.com/v1/chat/completions", "{}", "{}", "application/json"),
    ]}))
    assert "!!binary" in source.read_text()  # how vcrpy writes bytes
    out = tmp_path / "out.har"
    result = _run("import", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{source} (vcrpy cassette): imported 2 exchanges (1 streamed) into {out}; skipped 1:",
        "  interaction 2: POST https://api.openai.com/v1/chat/completions: path does not match '/v4/'",
    ]
    stream = load_cassette(out).exchanges[1]
    assert stream.event_bytes() == [STREAM[i:i + len(STREAM) // 3] for i in range(0, len(STREAM), len(STREAM) // 3)]
    assert "secret-key-0123" not in out.read_text()


def test_import_an_old_httpx_vcrpy_json_cassette(tmp_path: Path) -> None:
    """vcrpy before 5 wrote httpx responses as `status_code` and `content`; JSON serialiser."""
    source = tmp_path / "vcr.json"
    source.write_text(json.dumps({"version": 1, "interactions": [{
        "request": {"method": "POST", "uri": "http://h/v4/chat-experiment", "body": "{}", "headers": {}},
        "response": {"status_code": 422, "headers": {"content-type": "application/json"},
                     "content": '{"detail": []}'}}]}))
    out = tmp_path / "out.har"
    assert _run("import", str(source), "-o", str(out)).exit_code == 0
    exchange = load_cassette(out).exchanges[0]
    assert exchange.response.status == 422 and exchange.response.content.body() == b'{"detail": []}'


def test_import_a_har_with_a_base64_body_and_a_failed_entry(tmp_path: Path) -> None:
    source = tmp_path / "in.har"
    entry = {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 30,
             "request": {"method": "POST", "url": "http://h/v4/chat-experiment", "headers": [],
                         "postData": {"mimeType": "application/json", "text": json.dumps(chat())}},
             "response": {"status": 200, "headers": [{"name": ":status", "value": "200"}],
                          "content": {"size": 3, "mimeType": "application/octet-stream",
                                      "text": base64.b64encode(b"\xff\x00\xfe").decode(), "encoding": "base64"}},
             "timings": {"send": 1, "wait": 10, "receive": 19}}
    failed = {**entry, "response": {"status": 0, "headers": [], "content": {"size": 0}, "_failureText": "refused"}}
    source.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                          "entries": [entry, failed]}}))
    out = tmp_path / "out.har"
    result = _run("import", str(source), "-o", str(out))
    assert result.exit_code == 0 and "the request failed (refused)" in result.output
    exchange = load_cassette(out).exchanges[0]
    assert exchange.response.content.body() == b"\xff\x00\xfe" and exchange.response.header_pairs() == []
    assert exchange.pace == "estimated" and exchange.timings.wait == 11 and exchange.time == 30


@pytest.mark.parametrize(("content", "args", "message"), [
    (None, (), "in.yaml: no such file"),
    ("just: yaml", (), "neither a HAR file"),
    ("{[ not yaml", (), "neither JSON"),
    ('{"interactions": []}', (), "nothing to import: it records no calls"),
    ('{"interactions": [{"request": {}}]}', (), "not a vcrpy interaction"),
    ('{"interactions": []}', ("--include", "("), "--include '(': invalid regular expression: missing )"),
])
def test_import_errors_are_one_clear_line(tmp_path: Path, content: str | None, args: tuple[str, ...],
                                          message: str) -> None:
    source = tmp_path / "in.yaml"
    if content is not None:
        source.write_text(content)
    result = _run("import", str(source), "-o", str(tmp_path / "out.har"), *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.har").exists()


def test_import_never_overwrites_without_force(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"interactions": [_interaction("http://h/v4/x", "{}", "{}", "application/json")]}))
    out = tmp_path / "out.har"
    out.write_text("precious")
    assert _run("import", str(source), "-o", str(out)).exit_code == 1 and out.read_text() == "precious"
    assert _run("import", str(source), "-o", str(out), "--force").exit_code == 0
    assert len(load_cassette(out).exchanges) == 1


def test_show_lists_one_line_per_exchange(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    with CassetteWriter(path, version="1.0") as writer:
        writer.append(json_exchange(chat(), {"data": []}))
        writer.append(stream_exchange(chat(stream=True), [(1.0, event({"n": 0})), (2.0, event({"n": 1}))]))
        writer.append(json_exchange(b"{}", b"<html>", status=404, url="http://h/v4/experiments/e/model-config",
                                    method="GET", pace="none"))
    result = _run("show", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path}: 3 exchanges, 1 streamed (HAR 1.2, cassette format 1, written by humanloop-mock 1.0)",
        "  #0  POST  /v4/chat-experiment             exp_demo  json    200  -         live",
        "  #1  POST  /v4/chat-experiment             exp_demo  stream  200  2 events  live",
        "  #2  GET   /v4/experiments/e/model-config  -         json    404  -         none",
    ]


def test_show_reads_an_unfinished_recording_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    writer = CassetteWriter(path)
    writer.append(json_exchange(chat(), {"data": []}))
    result = _run("show", str(path))  # the recorder has not closed: only the side file exists
    assert result.exit_code == 0 and "(1 of them recovered from an unfinished recording" in result.output
    writer.close()


def test_show_points_a_plain_har_to_import(tmp_path: Path) -> None:
    path = tmp_path / "plain.har"
    path.write_text('{"log": {"version": "1.2", "entries": []}}')
    result = _run("show", str(path))
    assert result.exit_code == 1 and f"humanloop-mock cassette import {path} -o OUT" in result.output
