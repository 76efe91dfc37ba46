"""The cassette on disk: a HAR 1.2 file that round-trips, a writer that loses nothing, clear load errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mockserver.recording import CassetteError, CassetteWriter, Exchange, load_cassette, new_cassette, save_cassette
from mockserver.recording.store import side_path
from tests.recording.factory import chat, event, json_exchange, stream_exchange

EVENTS = [(3.0, event({"n": 0})), (10.5, event({"n": 1, "text": "é ☃"})), (12.25, b"data: [DONE]\n\n")]


def _exchanges() -> list[Exchange]:
    return [
        json_exchange(chat("one"), {"data": [{"output": "a"}]}),
        stream_exchange(chat("two", stream=True), EVENTS),
        json_exchange(b"\xff\xfe not utf-8", b"\x00\xff binary answer", status=422),
    ]


def test_round_trip_keeps_every_byte_event_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    with CassetteWriter(path, version="9.9") as writer:
        for exchange in _exchanges():
            writer.append(exchange)
    loaded = load_cassette(path)
    assert loaded.exchanges == _exchanges()
    assert loaded.exchanges[0].started_date_time == "2026-01-02T03:04:05.678+00:00"
    assert [e.request.body() for e in loaded.exchanges] == [e.request.body() for e in _exchanges()]
    assert [e.response.content.body() for e in loaded.exchanges] == [e.response.content.body() for e in _exchanges()]
    stream = loaded.exchanges[1]
    assert stream.event_bytes() == [data for _, data in EVENTS]
    assert [e.offset_ms for e in stream.response.content.events or []] == [3.0, 10.5, 12.25]
    assert loaded.exchanges[2].response.status == 422
    assert loaded.log.creator.version == "9.9"
    assert not side_path(path).exists()


def test_the_file_is_plain_har_1_2(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    save_cassette(new_cassette("1", _exchanges()), path)
    data = json.loads(path.read_text())
    log = data["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "humanloop-mock" and log["_humanloopMock"] == {
        "format": 1}
    entry = log["entries"][1]
    for key in ("startedDateTime", "time", "request", "response", "cache", "timings"):
        assert key in entry
    assert entry["response"]["content"]["text"] == "".join(e["text"] for e in entry["response"]["content"]["_events"])
    assert entry["response"]["content"]["_events"][0] == {"offsetMs": 3.0, "text": EVENTS[0][1].decode()}
    assert log["entries"][2]["response"]["content"]["encoding"] == "base64"
    assert log["entries"][2]["request"]["postData"]["_encoding"] == "base64"


def test_appending_to_an_existing_cassette_keeps_what_it_held(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    save_cassette(new_cassette("1", _exchanges()[:1]), path)
    with CassetteWriter(path) as writer:
        assert writer.append(_exchanges()[1]) == 1
    assert len(load_cassette(path).exchanges) == 2


def test_each_exchange_is_on_disk_before_append_returns(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    writer = CassetteWriter(path)
    writer.append(_exchanges()[0])
    assert len(load_cassette(path).exchanges) == 1  # read by another reader, before close
    writer.close()
    writer.close()  # twice is fine
    with pytest.raises(CassetteError, match="closed"):
        writer.append(_exchanges()[0])


def test_a_killed_recorder_leaves_a_loadable_cassette(tmp_path: Path) -> None:
    """kill -9 in the middle of recording: every appended exchange is read back, and the next
    writer on that path folds them into the file."""
    path = tmp_path / "c.har"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from mockserver.recording import CassetteWriter
        from tests.recording.test_cassette_store import _exchanges
        writer = CassetteWriter({str(path)!r})
        for exchange in _exchanges():
            writer.append(exchange)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert not path.exists() and side_path(path).exists()
    recovered = load_cassette(path)
    assert recovered.recovered == 3 and len(recovered.exchanges) == 3
    # A crash in the middle of a line: that line is dropped, the others kept.
    with side_path(path).open("ab") as side:
        side.write(b'{"startedDateTime": "2026-')
    assert len(load_cassette(path).exchanges) == 3
    with CassetteWriter(path) as writer:
        writer.append(_exchanges()[0])
    assert len(load_cassette(path).exchanges) == 4 and not side_path(path).exists()


def test_an_interrupted_close_does_not_duplicate(tmp_path: Path) -> None:
    """Crash after the rename, before the side file went: its exchanges are already in the cassette."""
    path = tmp_path / "c.har"
    save_cassette(new_cassette("1", _exchanges()), path)
    side_path(path).write_text("".join(json.dumps(e.model_dump(mode="json", by_alias=True, exclude_none=True))
                                       + "\n" for e in load_cassette(path).exchanges[1:]))
    assert len(load_cassette(path).exchanges) == 3


def test_a_second_recorder_on_the_same_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    with CassetteWriter(path), pytest.raises(CassetteError, match="another process is recording"):
        CassetteWriter(path)


def test_a_failed_close_leaves_the_previous_cassette_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    save_cassette(new_cassette("1", _exchanges()), path)
    before = path.read_bytes()
    writer = CassetteWriter(path)
    writer.append(_exchanges()[0])
    (tmp_path / f".c.har.{os.getpid()}.tmp").mkdir()  # where the new file would go: it cannot be written
    with pytest.raises(CassetteError, match="cannot write"):
        writer.close()
    assert path.read_bytes() == before
    assert len(load_cassette(path).exchanges) == 4  # the appended one waits in the side file


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such cassette"),
    ("not json", "not JSON"),
    ('["a list"]', "not a HAR file"),
    ('{"log": {"version": "1.2", "entries": []}}', "cassette import"),
    ('{"log": {"_humanloopMock": {"format": 2}, "entries": []}}', r"log\._humanloopMock\.format"),
    ('{"log": {"_humanloopMock": {"format": 1}, "entries": [{"startedDateTime": "x", "time": 1, '
     '"request": {"method": "POST", "url": "/v4/x"}, "response": {"status": 999, "content": {"size": 0}}}]}}',
     r"log\.entries\[0\]\.response\.status"),
    ('{"log": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),  # was a RecursionError (a 500)
    *[('{"log": {"_humanloopMock": {"format": 1}, "entries": [{"startedDateTime": "x", "time": 1, '
       '"request": {"method": "POST", "url": "/v4/x"}, "response": {"status": 200, "content": {"size": 0}, '
       f'"headers": [{header}]}}}}]}}}}', message) for header, message in (
        ('{"name": "bad name", "value": "x"}', r"response\.headers: .*not an HTTP token"),
        ('{"name": "x-a", "value": "a\\r\\nSet-Cookie: b"}', r"response\.headers: .*CR, LF or NUL"))],
    ('{"log": {"_humanloopMock": {"format": 1}, "entries": [{"startedDateTime": "x", "time": 1, '
     '"request": {"method": "POST", "url": "/v4/x"}, "response": {"status": 101, "content": {"size": 0}}}]}}',
     r"response\.status: Input should be greater than or equal to 200"),  # a 1xx is no final answer
])
def test_load_errors_say_where_and_what(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "c.har"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CassetteError, match=message) as raised:
        load_cassette(path)
    assert str(path) in str(raised.value)


def test_an_edited_stream_whose_text_and_events_disagree_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    save_cassette(new_cassette("1", _exchanges()), path)
    data = json.loads(path.read_text())
    data["log"]["entries"][1]["response"]["content"]["_events"][0]["text"] = "data: {}\n\n"
    path.write_text(json.dumps(data))
    with pytest.raises(CassetteError, match=r"entries\[1\].*_events joined"):
        load_cassette(path)


def test_a_writer_refuses_a_file_that_is_not_a_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.har"
    path.write_text('{"log": {"entries": []}}')
    with pytest.raises(CassetteError, match="not a humanloop-mock cassette"):
        CassetteWriter(path)
    assert path.read_text() == '{"log": {"entries": []}}' and not side_path(path).exists()
