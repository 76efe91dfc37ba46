"""Provider keys reach neither the journal nor the access log, whatever the shape, and taking them out
is bounded work (review of issue 16, findings 1, 4 and 5).

The shapes below all reached `GET /__admin/requests` before: UTF-16/32 JSON (which the server reads and
answers 200), form fields in the bracket and `%5B` styles, multipart, a percent-escaped name, single
quotes, a key in the query string (also in the access log line), a header named like an API key, a key
that is itself an object key. And one 8 MiB body took 8 s of the event loop to scrub. The journal, the
access log and the cassette writer now share one redaction (`mockserver.world.provider_keys`).
"""

from __future__ import annotations

import ast
import io
import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.access_log import AccessLog
from mockserver.recording.redact import redact_body as cassette_redact_body
from mockserver.world import provider_keys
from mockserver.world.provider_keys import redact_body, redaction

SECRET = "sk-LEAKME1234567890"
VALID = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "hi"}],
         "provider_api_keys": {"openai": SECRET}}
KEYED = {"X-API-KEY": "tenant-a"}

# (body, content type, query string)
SHAPES: dict[str, tuple[bytes, str, str]] = {
    "UTF-16 JSON (answered 200)": (json.dumps(VALID).encode("utf-16"), "application/json", ""),
    "UTF-16-BE JSON, no BOM": (json.dumps(VALID).encode("utf-16-be"), "application/json", ""),
    "UTF-32-LE JSON": (json.dumps(VALID).encode("utf-32-le"), "application/json", ""),
    "form, brackets": (f"provider_api_keys[openai]={SECRET}&experiment_id=x".encode(),
                       "application/x-www-form-urlencoded", ""),
    "form, %5B brackets": (f"provider_api_keys%5Bopenai%5D={SECRET}".encode(), "application/x-www-form-urlencoded", ""),
    "multipart": (f'--b\r\nContent-Disposition: form-data; name="provider_api_keys"\r\n\r\n{SECRET}\r\n--b--\r\n'
                  .encode(), "multipart/form-data; boundary=b", ""),
    "percent-escaped name": (f'{{"provider%5Fapi%5Fkeys": {{"openai": "{SECRET}"}}}}'.encode(), "application/json",
                             ""),
    "single quotes": (f"{{'provider_api_keys': {{'openai': '{SECRET}'}}}}".encode(), "application/json", ""),
    "YAML": (f"provider_api_keys:\n  openai: {SECRET}\n".encode(), "application/yaml", ""),
    "the key as an object key": (json.dumps({**VALID, "provider_api_keys": {SECRET: "x"}}).encode(),
                                 "application/json", ""),
    "another spelling, nested": (json.dumps({**VALID, "provider_api_keys": {},
                                             "inputs": {"OpenAI-Api-Key": SECRET}}).encode(), "application/json", ""),
    "in the query string": (json.dumps({**VALID, "provider_api_keys": {}}).encode(), "application/json",
                            f"provider_api_keys={SECRET}"),
    "in the query string, brackets": (json.dumps({**VALID, "provider_api_keys": {}}).encode(), "application/json",
                                      f"a=1&provider_api_keys%5Bopenai%5D={SECRET}"),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_no_shape_reaches_the_journal_or_the_access_log(name: str) -> None:
    body, content_type, query = SHAPES[name]
    with TestClient(create_app(MockSettings())) as client:
        answer = client.post("/v4/chat-experiment" + (f"?{query}" if query else ""), content=body,
                             headers={**KEYED, "content-type": content_type})
        assert answer.status_code in (200, 422)
        assert SECRET not in answer.text or '"inputs"' in answer.text  # (a chat answer echoes its own inputs)
        if name.startswith("UTF-16 JSON"):
            assert answer.status_code == 200  # the server reads it: so must the redaction
        for path in ("/__admin/requests", "/__admin/unexpected"):
            shown = client.get(path, headers=KEYED)
            assert shown.status_code == 200 and SECRET not in shown.text
        entry = client.get("/__admin/requests", headers=KEYED).json()["requests"][0]
        assert "[redacted]" in json.dumps(entry) and SECRET not in repr(entry)  # the answer kept: without it
    log = io.StringIO()  # (no event loop here: the line is written at once)
    AccessLog(log).request({"client": ("127.0.0.1", 1), "method": "POST", "path": "/v4/chat-experiment",
                            "query_string": query.encode(), "http_version": "1.1"}, 200)
    assert SECRET not in log.getvalue() and (not query or "[redacted]" in log.getvalue())


def test_a_header_named_like_an_api_key_is_redacted_in_the_journal() -> None:
    with TestClient(create_app(MockSettings())) as client:
        assert client.post("/v4/chat-experiment", json={**VALID, "provider_api_keys": {}},
                           headers={**KEYED, "X-OpenAI-Api-Key": SECRET, "Cookie": f"s={SECRET}"}).status_code == 200
        entry = client.get("/__admin/requests", headers=KEYED).json()["requests"][0]
    assert entry["headers"]["x-openai-api-key"] == entry["headers"]["cookie"] == "[redacted]"
    assert entry["headers"]["x-api-key"] == "[redacted]"


def test_the_journal_and_the_cassette_writer_use_one_redaction() -> None:
    """One module (finding 5): the recording package's body redaction is `provider_keys.redact_body`, and
    of the rest of `mockserver` the recording package imports that module only (and `files`, which reads
    the documents a person names and imports nothing of `mockserver`, and `jsonio`'s depth limit)."""
    assert cassette_redact_body is redact_body
    recording = Path(provider_keys.__file__).parent.parent / "recording"
    for path in [*recording.glob("*.py"), Path(provider_keys.__file__)]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mockserver"):
                # (the JSON depth limit every part of the mock reads bodies with is in `jsonio`: a leaf module)
                allowed = ("mockserver.recording", "mockserver.world.provider_keys", "mockserver.files",
                           "mockserver.jsonio") \
                    if path.parent == recording else ()
                assert node.module.startswith(allowed), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("mockserver") for alias in node.names), path.name


def test_valid_json_keeps_provider_names_and_nulls_and_hides_other_keys() -> None:
    body = json.dumps({**VALID, "provider_api_keys": {"openai": SECRET, "ai21": None, "sk-live-ABC": "x"}}).encode()
    kept = json.loads(redact_body(body))
    assert kept["provider_api_keys"] == {"openai": "[redacted]", "ai21": None, "[redacted]": "[redacted]"}
    assert kept["messages"] == VALID["messages"]
    # A key with nothing to hide is kept byte for byte, and so is everything before the next one.
    body = b'{"provider_api_keys": {},  "inputs": {"api_key": "' + SECRET.encode() + b'"}}'
    assert redact_body(body) == b'{"provider_api_keys": {},  "inputs": {"api_key": "[redacted]"}}'


# --- bounded work ------------------------------------------------------------------------------------

MIB = 1 << 20


def _fill(unit: bytes, size: int = 8 * MIB) -> bytes:
    return unit * (size // len(unit))


# 8 MiB bodies that cost the old scrub seconds (the review measured 3.8 s, 1.2 s and 0.3 s), and the worst
# found for this one: each of its passes is C code over the body, so none can take long.
HOSTILE = {
    "the review's token walk": _fill(b"provider_api_keys:{" + b"[]" * 49_999 + b"}"),
    "empty strings in the value": b'{"provider_api_keys": [' + _fill(b'"",')[:-1] + b"]}",
    "valid JSON, escapes in the value": b'{"api_key": "' + _fill(b'\\"') + b'"}',
    "valid JSON, 19,000 values under the key": json.dumps({"provider_api_keys": ["sk"] * 19_000,
                                                           "x": "y" * (7 * MIB)}).encode(),
    "many names, not JSON": _fill(b'"api_key": "s", '),
    "UTF-16, key and 6 MiB": json.dumps({"provider_api_keys": {"openai": "sk"}, "c": "z" * (3 * MIB)}).encode("utf-16"),
}
# Bodies that only mention a name, where nothing is hidden (valid JSON: it is no key there).
MENTIONS = {
    "one escape, then filler": b"\\u" + b"x" * (8 * MIB),
    "valid JSON, the name in a long text": json.dumps({"c": "api_key\n" * MIB}).encode(),
}


def _best(work: object, tries: int = 3) -> float:
    took = []
    for _ in range(tries):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        took.append(time.perf_counter() - started)
    return min(took)


def _stepped(body: bytes) -> tuple[int, float, bytes]:
    """`redaction(body)` run step by step: how many steps, the longest one's seconds, and the result."""
    steps, longest = 0, 0.0
    generator = redaction(body)
    while True:
        started = time.perf_counter()
        try:
            next(generator)
        except StopIteration as done:
            return steps, max(longest, time.perf_counter() - started), done.value
        longest = max(longest, time.perf_counter() - started)
        steps += 1


@pytest.mark.parametrize("name", [*HOSTILE, *MENTIONS])
def test_a_hostile_body_is_redacted_in_steps_each_a_pass_of_c_code(name: str) -> None:
    """No wall-clock bound: each step is timed against one C pass over the same bytes in this test
    (`json.loads` of an 8 MiB string), and the steps are few. The old scrub ran 100 to 400 such passes'
    worth of Python in one go."""
    body = HOSTILE.get(name) or MENTIONS[name]
    baseline = _best(lambda: json.loads(b'"' + b"x" * len(body) + b'"'))
    runs = [_stepped(body) for _ in range(3)]  # the best of three, like the baseline (a shared machine)
    steps, longest, redacted = min(runs, key=lambda run: run[1])
    text = redacted.decode("utf-16") if name.startswith("UTF-16") else redacted.decode("utf-8", "replace")
    if name in MENTIONS:
        assert redacted is body
    else:
        assert '"sk"' not in text and "[redacted]" in text
    assert steps <= 4 + provider_keys.MAX_NAMES // 100
    assert longest < 12 * baseline, f"a step took {longest * 1000:.0f} ms, one C pass {baseline * 1000:.0f} ms"


@pytest.mark.parametrize(("data", "named"), [
    (b'{"api_key": "s"}', True), (b'{"APIKEY": "s"}', True), (b"a.p.i.k.e.y", True), (b'{"apiKey":1}', True),
    (b'{"api_ke\\u0079": "s"}', True), (b"api%4Bey=s", True), (b'{"api_kez": "s", "y": 1}', False),
    (b'{"api_ey": "s"}', False), (b'{"apike": "s"}', False), (b'{"kind": "say"}', False), (b"", False),
])
def test_a_body_that_cannot_spell_a_secret_name_is_passed_over(data: bytes, named: bool) -> None:
    """The quick test before the scan: a body missing a letter of the name (and with no escape) cannot
    name a secret; any body that spells one is looked into."""
    assert provider_keys.might_name_a_secret(data) is named
    if b"\\" not in data:  # (`\\U` is no escape)
        assert provider_keys.might_name_a_secret(data.upper()) is named
