"""No key reaches a cassette, whatever the body's shape; everything else stays byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.recording import PLACEHOLDER, CassetteWriter, build_exchange, load_cassette, redact_exchange
from mockserver.recording.redact import redact_body, redact_request_body
from tests.recording.factory import SSE_HEADERS, URL, chat, event

SECRET = "sk-SECRET-0123456789"

# Bodies a client could send, each holding SECRET where a key goes.
ADVERSARIAL = {
    "plain": json.dumps(chat(provider_api_keys={"openai": SECRET, "anthropic": None})).encode(),
    "top-level list": json.dumps([chat(provider_api_keys={"openai": SECRET})]).encode(),
    "nested in a message": json.dumps(chat(messages=[{"role": "user", "content": "x",
                                                      "provider_api_keys": {"mock": SECRET}}])).encode(),
    "escaped key name": b'{"provider_api_key\\u0073": {"openai": "' + SECRET.encode() + b'"}}',
    "fully escaped key name": ('{"' + "".join(f"\\u{ord(c):04x}" for c in "provider_api_keys")
                               + '": {"openai": "' + SECRET + '"}}').encode(),
    "escaped secret": b'{"provider_api_keys": {"openai": "' + "".join(f"\\u{ord(c):04x}" for c in SECRET).encode()
                      + b'"}}',
    "duplicate key, secret first": b'{"provider_api_keys": {"openai": "' + SECRET.encode()
                                   + b'"}, "provider_api_keys": {}}',
    "duplicate inner key": b'{"provider_api_keys": {"openai": "' + SECRET.encode() + b'", "openai": null}}',
    "value is a string": json.dumps({"provider_api_keys": SECRET}).encode(),
    "value is a list": json.dumps({"provider_api_keys": [["x", SECRET]]}).encode(),
    "value is a number": b'{"api_key": 12345678901234567890, "apiKey": "' + SECRET.encode() + b'"}',
    "other spellings": json.dumps({"inputs": {"X-Api-Key": SECRET, "openai_api_key": SECRET}}).encode(),
    "cut short": b'{"experiment_id": "e", "provider_api_keys": {"openai": "' + SECRET.encode()[:12],
    "trailing comma": b'{"provider_api_keys": {"openai": "' + SECRET.encode() + b'"},}',
    "single quotes": b"{'provider_api_keys': {'openai': '" + SECRET.encode() + b"'}}",
    "unquoted keys": b"{provider_api_keys: {openai: '" + SECRET.encode() + b"'}}",
    "missing colon": b'{"provider_api_keys" {"openai": "' + SECRET.encode() + b'"}}',
    "form encoded": b"experiment_id=e&provider_api_keys[openai]=" + SECRET.encode() + b"&x=1",
    "invalid UTF-8 around it": b'\xff\xfe{"provider_api_keys": {"openai": "' + SECRET.encode() + b'"}}\xc3',
    "nested deeper than the recursion limit": b"[" * 50_000 + b'{"provider_api_keys": "' + SECRET.encode()
                                              + b'"}' + b"]" * 50_000,
}


@pytest.mark.parametrize("body", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_no_secret_survives_any_body_shape(body: bytes) -> None:
    redacted = redact_body(body)
    assert SECRET.encode() not in redacted
    assert SECRET.encode()[:12] not in redacted  # nor the part of it a cut body holds
    assert redact_body(redacted) == redacted  # redacting again changes nothing


@pytest.mark.parametrize("body", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_a_written_cassette_holds_no_secret_anywhere(tmp_path: Path, body: bytes) -> None:
    """Header, query, body, an echo in the response and in a stream event: the file never holds it."""
    headers = [("X-API-KEY", SECRET), ("Authorization", f"Bearer {SECRET}"), ("content-type", "application/json")]
    exchange = build_exchange(
        method="POST", url=f"{URL}?api_key={SECRET}&x=1", request_headers=headers, request_body=body, status=200,
        response_headers=[*SSE_HEADERS, ("set-cookie", f"s={SECRET}")],
        events=[(1.0, event({"detail": f"your key {SECRET} is fine"})), (2.0, b"data: " + SECRET.encode() + b"\n\n")])
    path = tmp_path / "c.har"
    with CassetteWriter(path) as writer:
        writer.append(exchange)
    text = path.read_text()
    assert SECRET not in text and json.dumps(SECRET)[1:-1] not in text
    assert load_cassette(path).exchanges[0].request.header_pairs()[0] == ("X-API-KEY", PLACEHOLDER)


def test_valid_json_keeps_its_shape_keys_and_nulls() -> None:
    body = b'{"experiment_id": "e",  "provider_api_keys": {"openai": "sk-1", "anthropic": null, "n": [1, true]}}'
    redacted = redact_body(body)
    assert json.loads(redacted) == {"experiment_id": "e", "provider_api_keys": {
        "openai": PLACEHOLDER, "anthropic": None, "n": [PLACEHOLDER, PLACEHOLDER]}}
    assert redacted.startswith(b'{"experiment_id": "e",  "provider_api_keys"')  # spacing kept outside the value


@pytest.mark.parametrize("body", [
    json.dumps(chat(provider_api_keys={})).encode(),  # what every SDK sends
    b'{ "provider_api_keys" : { } , "user" : "u" }',
    json.dumps(chat(content="my provider_api_keys are here", metadata={"note": "api_key"})).encode(),
    json.dumps(["provider_api_keys", "sk-not-a-field-value"]).encode(),
    b"\x00\xff not json at all",
    b"",
])
def test_bodies_without_a_key_stay_byte_for_byte(body: bytes) -> None:
    assert redact_body(body) == body


def test_a_key_echoed_elsewhere_in_the_request_is_replaced_too() -> None:
    body = json.dumps(chat(content=f"the key is {SECRET}", provider_api_keys={"openai": SECRET})).encode()
    assert SECRET.encode() not in redact_request_body(body)
    header_echo = json.dumps(chat(content=f"header key {SECRET}")).encode()
    assert SECRET.encode() not in redact_request_body(header_echo, [("x-api-key", SECRET)])
    assert redact_request_body(header_echo, [("x-api-key", "short")]) == header_echo  # under 8 characters: kept


def test_redacting_an_exchange_twice_changes_nothing() -> None:
    exchange = build_exchange(method="POST", url=URL, request_headers=[("X-API-KEY", SECRET)],
                              request_body=ADVERSARIAL["plain"], status=200, response_headers=[],
                              body=b'{"echo": "' + SECRET.encode() + b'"}')
    assert redact_exchange(exchange) == exchange


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)
_key_names = st.sampled_from(["provider_api_keys", "api_key", "apiKey", "X-API-KEY", "openai_api_key",
                              "provider_api_key\\u0073", "api%5Fkey"])


def _insert(document: Any, name: str, where: list[int]) -> Any:
    """`document` with `{name: SECRET-holding value}` put somewhere inside it."""
    secret_holder = {"openai": SECRET} if where[0] % 2 else SECRET
    node = document
    for step in where[1:]:
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        containers = [child for child in children if isinstance(child, dict | list)]
        if not containers:
            break
        node = containers[step % len(containers)]
    if isinstance(node, dict):
        node[name] = secret_holder
    elif isinstance(node, list):
        node.append({name: secret_holder})
    else:
        return {"wrapped": document, name: secret_holder}
    return document


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_json, name=_key_names, where=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       cut=st.integers(4, 40))
def test_any_document_with_a_key_anywhere_loses_it(document: Any, name: str, where: list[int], cut: int) -> None:
    document = _insert(document, "KEYNAME", where)
    text = json.dumps(document).replace('"KEYNAME"', f'"{name}"')
    redacted = redact_body(text.encode())
    assert SECRET.encode() not in redacted
    json.loads(redacted)  # still valid JSON
    # The same body cut short inside the key (or just after it): no part of the key is left either.
    truncated = text.encode()[:text.index(SECRET) + cut]
    assert SECRET.encode()[:cut] not in redact_body(truncated)
