"""Files handed to `cassette import`, `cassette show` and `serve --replay` by mistake or by an adversary:
each is one clear error naming the file (exit 1), or an entry skipped with why; never a traceback, a hang,
unbounded memory, or a Python object built from a YAML tag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mockserver.cli import main
from mockserver.recording import load_cassette, save_cassette
from mockserver.recording.har import new_cassette
from mockserver.recording.importers import import_file
from tests.recording.factory import json_exchange

CHAT_URL = "http://127.0.0.1:9/v4/chat-experiment"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _interaction(**request: Any) -> dict[str, Any]:
    return {"request": {"method": "POST", "uri": CHAT_URL, "headers": {}, "body": '{"experiment_id": "e"}',
                        **request},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {"Content-Type": ["application/json"]},
                         "body": {"string": '{"ok": 1}'}}}


def _entry(**changes: Any) -> dict[str, Any]:
    entry = {"startedDateTime": "2024-01-01T00:00:00Z", "time": 1,
             "request": {"method": "POST", "url": CHAT_URL, "headers": [],
                         "postData": {"mimeType": "application/json", "text": '{"experiment_id": "e"}'}},
             "response": {"status": 200, "statusText": "OK", "headers": [],
                          "content": {"size": 2, "mimeType": "application/json", "text": "{}"}}}
    entry.update(changes)
    return entry


def test_a_vcrpy_cassette_with_a_python_object_tag_builds_nothing(tmp_path: Path) -> None:
    """yaml.safe_load already refused it, in words about constructors; now the tag is named and why."""
    source = tmp_path / "cassette.yaml"
    source.write_text(f"interactions:\n- request:\n    body: !!python/object/apply:os.mkdir ['{tmp_path}/built']\n"
                      f"    headers: {{}}\n    method: POST\n    uri: {CHAT_URL}\n")
    result = _run("cassette", "import", str(source), "-o", str(tmp_path / "out.har"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the tag !!python/object/apply:os.mkdir asks for a Python object, which is never built here" \
        in result.output and "line 3" in result.output
    assert not (tmp_path / "built").exists() and not (tmp_path / "out.har").exists()


def test_the_python_string_tags_of_old_vcrpy_cassettes_are_read_as_strings(tmp_path: Path) -> None:
    """vcrpy under Python 2 wrote `!!python/unicode` (and `!!python/str`) for plain strings: such a cassette
    could not be imported at all ('could not determine a constructor')."""
    source = tmp_path / "py2.yaml"
    source.write_text(f"interactions:\n- request:\n    body: !!python/unicode '{{\"experiment_id\": \"e\"}}'\n"
                      f"    headers: {{}}\n    method: !!python/str POST\n    uri: !!python/unicode '{CHAT_URL}'\n"
                      "  response:\n    body: {string: !!python/unicode '{\"ok\": 1}'}\n"
                      "    headers: {Content-Type: !!python/tuple [application/json]}\n"
                      "    status: {code: 200, message: OK}\nversion: 1\n")
    result = import_file(source)
    assert result.skipped == [] and len(result.exchanges) == 1
    exchange = result.exchanges[0]
    assert exchange.request.body() == b'{"experiment_id": "e"}' and exchange.response.content.body() == b'{"ok": 1}'
    assert exchange.response.header_pairs() == [("Content-Type", "application/json")]


@pytest.mark.parametrize(("text", "message"), [
    ("\n".join(['l0: &l0 [{request: {}}, 1, 2, 3, 4, 5, 6, 7, 8, 9]']
               + [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]" for n in range(1, 10)]
               + ["interactions: *l9"]), "not a vcrpy cassette: holds more than 1,000,000 values"),
    ("interactions: &p [{request: *p}]\n", "nested more than 100 levels deep (or a YAML alias that holds itself)"),
    ("interactions: " + "[" * 100_000 + "]" * 100_000, "YAML nested too deeply to read"),
    ("interactions:\n- request: {}\n  request: {}\n", "the key 'request' is given twice"),
    ("interactions:\n- {1: x}\n", "interactions[0]: the key 1 (int) is not a string"),
])
def test_a_hostile_vcrpy_document_is_one_error(tmp_path: Path, text: str, message: str) -> None:
    """Before: the alias bomb made a billion skip lines' worth of work, the deep one a RecursionError traceback."""
    source = tmp_path / "cassette.yaml"
    source.write_text(text)
    result = _run("cassette", "import", str(source), "-o", str(tmp_path / "out.har"))
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_har_entries_of_the_wrong_types_are_skipped_with_why(tmp_path: Path) -> None:
    """Before: a `creator`, `content` or `postData.params` of the wrong type, or an unparseable URL, stopped the
    import with a traceback (AttributeError, ValueError: Invalid IPv6 URL)."""
    entries = [_entry(response={"status": 200, "content": "text", "headers": []}),
               _entry(request={"method": "POST", "url": CHAT_URL, "postData": {"params": "x"}}),
               _entry(request={"method": "POST", "url": "http://[::1/v4/chat-experiment"}),
               _entry(response={"status": 200, "headers": [],
                                "content": {"size": 3, "text": "!!!", "encoding": "base64"}}),
               _entry(timings=[1, 2]), _entry(response={"status": "abc"}), 5, None, _entry()]
    source = tmp_path / "in.har"
    source.write_text(json.dumps({"log": {"creator": "a string", "entries": entries}}))
    result = _run("cassette", "import", str(source), "-o", str(tmp_path / "out.har"))
    assert result.exit_code == 0, result.output
    assert "(HAR file (unknown tool)): imported 1 exchanges" in result.output
    for line in ["entry 0: not a HAR entry: a field of the wrong type or value ('str' object has no attribute",
                 "entry 1: not a HAR entry: a field of the wrong type",
                 "entry 2: POST http://[::1/v4/chat-experiment: path does not match",
                 "entry 3: POST http://127.0.0.1:9/v4/chat-experiment: a base64 body does not decode",
                 "entry 4: not a HAR entry", "entry 5: not a HAR entry: a field of the wrong type or value "
                 "(invalid literal for int()", "entry 6: not a HAR entry", "entry 7: not a HAR entry"]:
        assert line in result.output
    assert len(load_cassette(tmp_path / "out.har").exchanges) == 1


def test_har_entries_that_are_not_a_list_are_not_a_har_file(tmp_path: Path) -> None:
    """Before: a string was walked letter by letter, one skip line per letter."""
    source = tmp_path / "in.har"
    source.write_text(json.dumps({"log": {"entries": "abcdefgh"}}))
    result = _run("cassette", "import", str(source), "-o", str(tmp_path / "out.har"))
    assert result.exit_code == 1 and "log.entries is a str, not a list: not a HAR file" in result.output


def test_include_is_matched_in_linear_time(tmp_path: Path) -> None:
    """`--include '(a+)+$'` against a path of 40 a's and a b backtracked (Python's re) for longer than the
    universe has left; the server's RE2 matcher answers at once. Run in a process so the old code fails by
    timing out, not by hanging the suite."""
    source = tmp_path / "in.har"
    source.write_text(json.dumps({"log": {"entries": [_entry(request={"method": "GET",
                                                                       "url": "http://h/" + "a" * 40 + "b"}),
                                                      _entry()]}}))
    done = subprocess.run([sys.executable, "-m", "mockserver.cli", "cassette", "import", str(source), "-o",
                           str(tmp_path / "out.har"), "--include", "(a+)+$|chat"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "imported 1 exchanges" in done.stdout and "path does not match" in done.stdout


def test_files_that_are_not_regular_are_refused_by_import_show_and_replay(tmp_path: Path) -> None:
    """A FIFO hung all three; /dev/zero and /dev/urandom were read until memory ran out (MemoryError); a
    symlink loop was 'no such cassette' to show and replay."""
    os.mkfifo(tmp_path / "fifo.har")
    (tmp_path / "zero.har").symlink_to("/dev/zero")
    (tmp_path / "random.har").symlink_to("/dev/urandom")
    (tmp_path / "loop.har").symlink_to(tmp_path / "loop2.har")
    (tmp_path / "loop2.har").symlink_to(tmp_path / "loop.har")
    for name, message in [("fifo.har", "not a regular file (a pipe, device or socket)"),
                          ("zero.har", "not a regular file"), ("random.har", "not a regular file"),
                          ("loop.har", "cannot read: Too many levels of symbolic links")]:
        path = str(tmp_path / name)
        for args in (["cassette", "import", path, "-o", str(tmp_path / "out.har")], ["cassette", "show", path],
                     ["serve", "--port", "0", "--replay", path]):
            if args[0] == "serve":  # (after binding, its errors go through a console queue CliRunner does not see)
                done = subprocess.run([sys.executable, "-m", "mockserver.cli", *args], capture_output=True,
                                      text=True, timeout=60)
                code, output = done.returncode, done.stdout + done.stderr
            else:
                result = _run(*args)
                code, output = result.exit_code, result.output
            assert code == 1 and f"{path}: {message}" in output, (args, output)
            assert "Traceback" not in output


def test_a_cassette_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.har"
    with open(huge, "wb") as handle:
        handle.truncate(2 << 30)  # sparse: 2 GiB long, nothing on disk
    for args in (["cassette", "show", str(huge)], ["cassette", "import", str(huge), "-o", str(tmp_path / "o.har")]):
        result = _run(*args)
        assert result.exit_code == 1 and "huge.har: larger than 256 MiB, the most this reads" in result.output


@pytest.mark.parametrize(("data", "message"), [
    (b"\xff\xfe{\x00}\x00", "UTF-16 or UTF-32 text (it starts with that byte-order mark); save it as UTF-8"),
    (b'{"log": {"creator": "caf\xe9"}}', "not UTF-8 text (line 1, byte 24)"),
])
def test_a_cassette_that_is_not_utf8_says_so(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.har"
    path.write_bytes(data)
    for args in (["cassette", "show", str(path)], ["cassette", "import", str(path), "-o", str(tmp_path / "o.har")]):
        result = _run(*args)
        assert result.exit_code == 1 and message in result.output


def test_a_cassette_with_a_utf8_byte_order_mark_loads(tmp_path: Path) -> None:
    """Before: 'not JSON: Unexpected UTF-8 BOM'."""
    path = tmp_path / "c.har"
    save_cassette(new_cassette("test", [json_exchange({"experiment_id": "e"}, {"ok": 1})]), path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(load_cassette(path).exchanges) == 1

