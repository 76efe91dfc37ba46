"""What a client meets from a real `humanloop-mock serve`, every byte: run under one interpreter, compare across.

`python -m tests.support.wire_probe OUT.json` starts `serve` with the interpreter running it (seed 7, a
config file, `--record`), sends a fixed script of raw HTTP/1.1 requests over a socket (each on its own
connection, read to the end: status line, headers, body, every event of a stream), reads the admin views,
stops the server, and writes every exchange's bytes, the cassette it wrote and the CLI's outputs to OUT.json
(bytes as latin-1 text, so a difference shows where it starts).
tests/api/test_cross_python.py runs it under CPython 3.11, 3.12 and 3.13 and compares the files.

The script holds the inputs whose answers once depended on the interpreter: characters Unicode 15 and 15.1
added (Python 3.11 has Unicode 14, 3.12 has 15.0, 3.13 has 15.1) in token counts, streamed chunks and
quoted error messages; the statuses whose reason phrase Python 3.13 renamed (413, 414, 416, 422); a JSON
trailing comma (3.13's decoder names it); and nesting deeper than 3.11's decoder reaches.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.process import URL

# Unicode 15.0 added Kawi (U+11F00-U+11F5F: letters, and digits U+11F50-U+11F59); 15.1 added CJK Extension I
# (U+2EBF0-U+2EE5D) and the ideographic description characters U+2FFC-U+2FFF.
KAWI = "\U00011f04\U00011f05\U00011f06"
KAWI_DIGITS = "\U00011f51\U00011f52"
CJK_EXT_I = "\U0002ebf0\U0002ebf1"
NEW_CHARACTERS = f"{KAWI} {KAWI_DIGITS} {CJK_EXT_I}\u2ffc, ok"

CONFIG = {"projects": [{"id": "pr_probe", "name": "probe", "experiments": [
    {"id": "exp_tools", "name": "tools", "configs": [{"id": "config_tools", "model": "gpt-4o", "tools": [{
        "name": "lookup", "description": "Find a person", "parameters": {"type": "object", "properties": {
            "name": {"type": "string"}, "email": {"type": "string", "format": "email"},
            "city": {"type": "string"}, "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"}, "score": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
            "required": ["name", "email", "city", "when", "id", "score", "tags"]}}]}]},
    {"id": "exp_short", "name": "short", "configs": [{"id": "config_short", "model": "gpt-4o", "max_tokens": 5}]},
]}]}


def chat(**fields: Any) -> bytes:
    return json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hello"}], **fields},
                      ensure_ascii=False).encode()


def said(text: str, **fields: Any) -> bytes:
    return chat(messages=[{"role": "user", "content": text}], **fields)


# (name, method, path, body, extra headers): sent in this order, so the journal and draws are the same.
EXCHANGES: list[tuple[str, str, str, bytes | None, dict[str, str]]] = [
    ("json", "POST", "/v4/chat-experiment", chat(), {}),
    ("stream", "POST", "/v4/chat-experiment", chat(stream=True), {}),
    ("samples", "POST", "/v4/chat-experiment", chat(num_samples=3), {}),
    ("samples streamed", "POST", "/v4/chat-experiment", chat(num_samples=2, stream=True), {}),
    ("tool call", "POST", "/v4/chat-experiment", chat(experiment_id="exp_tools", tool_choice="required"), {}),
    ("tool call streamed", "POST", "/v4/chat-experiment",
     chat(experiment_id="exp_tools", tool_choice="required", stream=True), {}),
    ("new characters: usage", "POST", "/v4/chat-experiment", said(NEW_CHARACTERS), {}),
    ("new characters: max_tokens", "POST", "/v4/chat-experiment", said(NEW_CHARACTERS, experiment_id="exp_short"),
     {}),
    ("script new characters", "POST", "/__admin/scripts",
     json.dumps({"match": {"message": "chunks"}, "answer": {"output": f"{KAWI}{KAWI_DIGITS} {CJK_EXT_I} x."}},
                ensure_ascii=False).encode(), {}),
    ("new characters: streamed chunks", "POST", "/v4/chat-experiment", said("chunks", stream=True), {}),
    ("new characters: function name (409)", "POST", "/v4/chat-experiment",
     chat(experiment_id="exp_tools", tool_choice={"type": "function", "function": {"name": KAWI}}), {}),
    ("new characters: spec value (422)", "POST", "/__admin/spec",
     json.dumps({"projects": [{"name": "p", "experiments": [{"name": "e", "configs": [
         {"model": "gpt-4o", "weight": CJK_EXT_I}]}]}]}, ensure_ascii=False).encode(), {}),
    ("new characters: query value (422)", "GET", f"/__admin/requests?call={quote(KAWI_DIGITS)}", None, {}),
    ("new characters: taken id (409)", "POST", "/__admin/spec",
     json.dumps({"projects": [{"name": "q", "experiments": [{"id": "exp_tools", "name": KAWI, "configs": [
         {"model": "gpt-4o"}]}]}]}, ensure_ascii=False).encode(), {}),
    ("422 missing field", "POST", "/v4/chat-experiment", b'{"experiment_id": "exp_demo"}', {}),
    ("422 wrong types", "POST", "/v4/chat-experiment",
     b'{"experiment_id": 5, "messages": [{"role": "nobody", "content": 3}], "num_samples": "x"}', {}),
    ("422 trailing comma in an object", "POST", "/v4/chat-experiment", b'{"experiment_id": "exp_demo",}', {}),
    ("422 trailing comma in an array", "POST", "/v4/chat-experiment",
     b'{"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "x"} ,\n ]}', {}),
    ("nested 1,200 deep", "POST", "/v4/chat-experiment", chat(metadata={"deep": "@"})
     .replace(b'"@"', b"[" * 1200 + b"]" * 1200), {}),
    ("nested 2,000 deep", "POST", "/v4/chat-experiment", b"[" * 2000 + b"]" * 2000, {}),
    # (only the head: an answer sent while a body is still unread ends in a reset, which can lose it)
    ("413 body", "POST", "/v4/chat-experiment", b"", {"Content-Length": "70000"}),
    ("405", "GET", "/v4/chat-experiment", None, {}),
    ("404", "GET", "/v4/nowhere", None, {}),
    ("404 for a path beyond ASCII", "GET", "/v4/caf%C3%A9%E2%98%95", None, {}),
    ("401", "POST", "/v4/chat-experiment", chat(), {"X-API-KEY": ""}),
    ("after errors", "POST", "/v4/chat-experiment", chat(num_samples=2, stream=True), {}),
    ("admin info", "GET", "/__admin/info", None, {}),
    ("admin experiments", "GET", "/__admin/experiments", None, {}),
    ("admin scripts", "GET", "/__admin/scripts", None, {}),
    ("admin unexpected", "GET", "/__admin/unexpected", None, {}),
    ("admin server", "GET", "/__admin/server", None, {}),
    ("journal", "GET", "/__admin/requests", None, {}),
    ("journal page", "GET", "/__admin/", None, {}),
    ("openapi", "GET", "/v4/openapi.json", None, {}),
    ("admin openapi", "GET", "/__admin/openapi.json", None, {}),
]


def exchange(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    """One request on its own connection (`Connection: close`), and everything the server sent back."""
    fields = {"Host": "127.0.0.1", "X-API-KEY": "probe-key", "Connection": "close", **headers}
    if body is not None:
        fields = {"Content-Type": "application/json", "Content-Length": str(len(body)), **fields}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + (body or b""))
        received = []
        while chunk := sock.recv(65536):
            received.append(chunk)
    return b"".join(received)


def varying(output: bytes, port: int) -> str:
    """`serve`'s output with what differs between runs left out: its port, process id, clients' ports."""
    text = output.decode("latin-1").replace(f"127.0.0.1:{port}", "127.0.0.1:PORT")
    return re.sub(r"server process \[\d+\]", "server process [PID]", re.sub(r"127\.0\.0\.1:\d+ - ", "CLIENT - ", text))


def run_cli(*args: str, env: dict[str, str]) -> bytes:
    done = subprocess.run([sys.executable, "-m", "mockserver.cli", *args], capture_output=True, env=env, timeout=60)
    return b"exit %d\n" % done.returncode + done.stdout + done.stderr


def probe(folder: Path) -> dict[str, str]:
    config = folder / "probe.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    cassette = folder / "probe.har"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--seed", "7", "--config", str(config),
               "--record", str(cassette), "--max-body-bytes", "65536", "--log-level", "info"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    got: dict[str, str] = {}
    try:
        assert server.stdout is not None
        banner = []
        for line in server.stdout:
            banner.append(line)
            if match := URL.search(line.decode()):
                break
        else:
            raise RuntimeError("serve did not start:\n" + b"".join(banner).decode(errors="replace"))
        port = int(match.group(1).rsplit(":", 1)[1].split("/")[0])
        for name, method, path, body, headers in EXCHANGES:
            got[name] = exchange(port, method, path, body, headers).decode("latin-1")
    finally:
        server.send_signal(signal.SIGTERM)
        rest, errors = server.communicate(timeout=30)
    # (the access log on stdout, uvicorn's and our log records on stderr: two streams, so their lines'
    # order is each stream's own)
    got["serve's stdout"] = varying(b"".join([*banner, rest]), port)
    got["serve's stderr"] = varying(errors, port)
    got["cassette"] = cassette.read_bytes().decode("latin-1")
    got["cli openapi"] = run_cli("openapi", env=env).decode("latin-1")
    got["cli check-config"] = run_cli("check-config", str(config), env=env).decode("latin-1")
    bad = folder / "bad.json"
    bad.write_text('{"projects": [],}', encoding="utf-8")
    got["cli check-config, trailing comma"] = run_cli("check-config", str(bad), env=env).decode("latin-1")
    return {name: text.replace(str(folder), "FOLDER") for name, text in got.items()}


def in_process_script() -> str:
    """tests/api/test_wire_bytes.py's script (faults, scripts, timing profiles, feedback, tenants, every
    error), answered in process: its record as JSON."""
    with warnings.catch_warnings():  # (Starlette's test client warns where httpx2, a test extra, is missing)
        warnings.simplefilter("ignore")
        from tests.api.test_wire_bytes import record
    return json.dumps(record(), sort_keys=True, ensure_ascii=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        got = probe(Path(folder))
    got["tests/api/test_wire_bytes.py's script, in process"] = in_process_script()
    got["python"] = sys.version  # (not compared: it tells the interpreters apart)
    Path(sys.argv[1]).write_text(json.dumps(got, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
