"""The mock's answers, byte for byte: a fixed script of requests against fresh apps, compared with what
the mock answered when this file was last written (`wire_bytes.json` beside it).

Determinism promises the same bytes for the same seed and requests; this holds the code to it across
changes that should not change a single answer (a reshape of the request path, say): every status,
header and body, and every journal record, for API calls of every kind (JSON, streams, samples,
scripts, faults, timing profiles, every error), the admin API and the tenants. Bodies longer than
`SHOWN` bytes are compared by their SHA-256 (their start is kept for a person reading a difference).

When an answer is meant to change, write the file again and review its difference:
`HUMANLOOP_MOCK_WRITE_WIRE=1 python -m pytest tests/api/test_wire_bytes.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from tests.conftest import chat_body

EXPECTED = Path(__file__).with_name("wire_bytes.json")
SHOWN = 600
KEY = {"X-API-KEY": "wire-key"}
JSON = {**KEY, "Content-Type": "application/json"}
CHAT = "/v4/chat-experiment"

TOOL_CONFIG = {"id": "config_tools", "model": "gpt-4o", "tools": [{
    "name": "get_weather", "description": "Weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1,
                                                                          "maximum": 5}},
        "required": ["city"]}}]}
TIMED_CONFIG = {"id": "config_timed", "model": "gpt-4o-mini", "max_tokens": 12,
                "timing": {"first_event": {"median": 0.002}, "between_events": {"median": 0.0005, "sigma": 0.4}}}
TEMPLATE_CONFIG = {"id": "config_template", "model": "gpt-4o", "chat_template": [
    {"role": "system", "content": "You answer about {{topic}} for {{user_name}}."}]}
SPEC = {"projects": [{"id": "pr_wire", "name": "wire", "experiments": [
    {"id": "exp_tools", "name": "tools", "configs": [TOOL_CONFIG]},
    {"id": "exp_timed", "name": "timed", "configs": [TIMED_CONFIG]},
    {"id": "exp_template", "name": "template", "configs": [TEMPLATE_CONFIG]},
    {"id": "exp_idle", "name": "idle", "configs": [{"id": "config_idle", "model": "gpt-4o", "active": False}]},
]}]}


def body_record(content: bytes) -> Any:
    if len(content) <= SHOWN:
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            return {"hex": content.hex()}
    return {"sha256": hashlib.sha256(content).hexdigest(), "length": len(content),
            "start": content[:200].decode("utf-8", "replace")}


def allow_sorted(value: Any) -> Any:
    """`value` with every `allow` header's methods in sorted order (Starlette lists them in set order)."""
    if isinstance(value, dict):
        return {k: ", ".join(sorted(v.split(", "))) if k == "allow" and isinstance(v, str) else allow_sorted(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [allow_sorted(v) for v in value]
    return value


def squeezed(value: Any) -> Any:
    """A journal record's field as JSON, or its digest when that is longer than `SHOWN` bytes."""
    text = json.dumps(allow_sorted(value), sort_keys=True, ensure_ascii=False)
    if len(text) <= SHOWN:
        return json.loads(text)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


def headers_record(headers: list[tuple[bytes, bytes]]) -> list[list[str]]:
    pairs = []
    for name, value in headers:
        text = value.decode("latin-1")
        if name.lower() == b"allow":  # (Starlette lists a route's methods in set order)
            text = ", ".join(sorted(text.split(", ")))
        pairs.append([name.decode("latin-1").lower(), text])
    return pairs


class Script:
    """Sends requests to one app and records each answer."""

    def __init__(self, name: str, settings: MockSettings) -> None:
        self.name = name
        self.app = create_app(settings)
        self.client = TestClient(self.app, follow_redirects=False, raise_server_exceptions=False)
        self.answers: list[dict[str, Any]] = []

    def __call__(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                 json_body: Any = None, content: bytes | None = None, note: str = "") -> Any:
        if json_body is not None:
            content = json.dumps(json_body).encode()
        response = self.client.request(method, path, headers=KEY if headers is None else headers, content=content)
        body = body_record(response.content)
        if path.startswith("/__admin/requests") and response.status_code == 200:  # the journal, with its 405s
            body = squeezed(response.json())
        self.answers.append({"request": f"{method} {path}" + (f" ({note})" if note else ""),
                             "status": response.status_code,
                             "headers": headers_record(response.headers.raw),
                             "body": body})
        return response

    def journal(self) -> list[Any]:
        return [{name: squeezed(value) for name, value in entry.as_dict().items()}
                for entry in self.app.state.mock.journal.entries()]  # type: ignore[attr-defined]


def chat(script: Script, note: str = "", headers: dict[str, str] | None = None, **overrides: Any) -> Any:
    return script("POST", CHAT, headers=JSON if headers is None else headers, json_body=chat_body(**overrides),
                  note=note)


def api_script() -> Iterator[Script]:
    wire = Script("api", MockSettings(seed=11, max_body_bytes=256 * 1024, max_body_values=400,
                                      max_prompt_bytes=64 * 1024, max_answer_bytes=512 * 1024))
    wire("POST", "/__admin/spec", json_body=SPEC, note="load the wire experiments")
    chat(wire)
    chat(wire, stream=True)
    chat(wire, num_samples=3, stream=True)
    chat(wire, num_samples=2, inputs={"topic": "maps"}, session_reference_id="s-1", metadata={"k": "v"}, user="u1",
         return_inputs=True)
    chat(wire, experiment_id="exp_tools", tool_choice="required")
    chat(wire, experiment_id="exp_tools", stream=True,
         tool_choice={"type": "function", "function": {"name": "get_weather"}})
    chat(wire, experiment_id="exp_tools", response_format={"type": "json_object"})
    chat(wire, experiment_id="exp_template", inputs={"topic": "rivers", "user_name": "Ada"})
    chat(wire, "template input missing", experiment_id="exp_template", inputs={"topic": "rivers"})
    chat(wire, experiment_id="exp_timed")
    chat(wire, experiment_id="exp_timed", stream=True, num_samples=2)
    chat(wire, experiment_id="exp_never_seen", project="elsewhere")
    chat(wire, experiment_id="exp_idle", note="no active configs")
    chat(wire, provider_api_keys={"openai": "sk-secret-one"}, note="provider key")
    chat(wire, "no key", headers={"Content-Type": "application/json"})
    wire("POST", CHAT, headers={**KEY, "Content-Type": "text/plain"}, content=b"{}", note="wrong content type")
    wire("POST", CHAT, headers=JSON, content=b"{", note="malformed")
    wire("POST", CHAT, headers=JSON, content=b'{"experiment_id": "x"}', note="missing messages")
    wire("POST", CHAT, headers=JSON, content=b"x" * (300 * 1024), note="over the body limit")
    wire("POST", CHAT, headers=JSON, content=b"[" + b"0," * 500 + b"0]", note="too many values")
    chat(wire, "prompt too large", experiment_id="exp_template", inputs={"topic": "x" * 70_000, "user_name": "A"})
    chat(wire, "answer too large", num_samples=16, messages=[{"role": "user", "content": "y " * 20_000}])

    wire("POST", "/__admin/faults", json_body={"status": 429, "retry_after": 2.5, "times": 1})
    chat(wire, "429 fault")
    wire("POST", "/__admin/faults", json_body={"status": 503, "detail": "down for a test",
                                               "match": {"message": "down"}})
    chat(wire, "503 fault", messages=[{"role": "user", "content": "down now"}])
    wire("POST", "/__admin/faults", json_body={"latency": 0.001, "first_event_delay": 0.001, "event_delay": 0.0005,
                                               "malformed_event": 2, "times": 1})
    chat(wire, "delayed and malformed stream", stream=True)
    wire("POST", "/__admin/faults", json_body={"cut_after_events": 3, "times": 1})
    chat(wire, "cut stream", stream=True, num_samples=2)
    wire("POST", "/__admin/faults", json_body={"malformed_event": 1, "times": 1, "name": "broken"})
    chat(wire, "malformed first event", stream=True)
    wire("POST", "/__admin/faults", json_body={"event_delay": 0.0005, "times": 1})
    chat(wire, "a delay fault on a timed stream", experiment_id="exp_timed", stream=True)

    wire("POST", "/__admin/scripts", json_body={"match": {"message": "capital"}, "answer": {"output": "Paris."}})
    chat(wire, "scripted")
    wire("POST", "/__admin/scripts", json_body={"answer": {"output": "One two three.", "chunks": ["One", " two",
                                                                                                  " three."]}})
    chat(wire, "scripted chunks", stream=True)
    wire("POST", "/__admin/scripts", json_body={"match": {"experiment_id": "exp_tools"}, "answer": {
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}], "usage": {"generation_tokens": 7}}})
    chat(wire, "scripted tool call", experiment_id="exp_tools")

    registered = wire("POST", "/v4/model-configs", headers=JSON, json_body={"model": "gpt-4o", "project": "wire",
                                                                           "name": "extra"}).json()
    wire("POST", "/v4/model-configs", headers=JSON, json_body={"model": "gpt-4o", "project_id": "pr_missing"},
         note="unknown project")
    wire("GET", "/v4/projects/pr_wire/experiments")
    wire("GET", "/v4/projects/pr_missing/experiments")
    created = wire("POST", "/v4/projects/pr_wire/experiments", headers=JSON, json_body={
        "name": "made", "positive_labels": [{"type": "rating", "value": "good"}],
        "config_ids": [registered["config"]["id"]], "set_active": True}).json()
    wire("POST", "/v4/projects/pr_wire/experiments", headers=JSON, json_body={
        "name": "bad", "positive_labels": [], "config_ids": ["config_missing"]}, note="unknown config")
    wire("PATCH", f"/v4/experiments/{created['id']}", headers=JSON, json_body={"name": "renamed"})
    wire("PATCH", "/v4/experiments/exp_missing", headers=JSON, json_body={"name": "x"})
    wire("GET", f"/v4/experiments/{created['id']}/model-config")
    wire("GET", "/v4/experiments/exp_idle/model-config", note="nothing to sample")
    answered = chat(wire, experiment_id=created["id"], num_samples=2).json()
    wire("POST", "/v4/feedback", headers=JSON, json_body={"type": "rating", "value": "good",
                                                         "data_id": answered["data"][0]["id"]})
    wire("POST", "/v4/feedback", headers=JSON, json_body=[
        {"type": "rating", "value": "bad", "data_id": answered["data"][1]["id"]},
        {"type": "issue", "value": "slow", "data_id": answered["data"][1]["id"]}])
    wire("POST", "/v4/feedback", headers=JSON, json_body={"type": "rating", "value": "good", "data_id": "data_x"})
    wire("DELETE", f"/v4/experiments/{created['id']}")
    wire("DELETE", f"/v4/experiments/{created['id']}", note="again")

    wire("GET", "/v4/healthz")
    wire("HEAD", "/v4/healthz")
    wire("GET", "/healthz", headers={})
    wire("GET", "/v4/openapi.json", headers={})
    wire("GET", "/v4/nowhere")
    wire("GET", CHAT, note="wrong method")
    wire("POST", "/v4/experiments/x", headers=JSON, content=b"{}", note="wrong method, path with a parameter")
    wire("POST", CHAT + "/", headers=JSON, content=b"{}", note="trailing slash")
    wire("GET", "/__admin", note="no slash")

    wire("GET", "/__admin/info")
    wire("GET", "/__admin/experiments")
    wire("GET", "/__admin/experiments/exp_demo")
    wire("GET", "/__admin/experiments/exp_missing")
    wire("GET", "/__admin/spec")
    wire("POST", "/__admin/spec", json_body={"projects": [{"name": "wire", "experiments": [
        {"id": "exp_tools", "name": "again", "configs": [{"model": "gpt-4o"}]}]}]}, note="taken id")
    wire("POST", "/__admin/spec", json_body={"projects": [{"nme": "typo"}]}, note="unknown key")
    wire("POST", "/__admin/spec", content=b"{nope", note="not JSON")
    wire("GET", "/__admin/scripts")
    wire("GET", "/__admin/faults")
    wire("POST", "/__admin/scripts", json_body={"answer": {"output": "x"}, "match": {"message_regex": "("}},
         note="bad regex")
    wire("POST", "/__admin/scripts", json_body={"answer": {"output": "never used"}, "match": {"message": "nothing"}})
    wire("DELETE", "/__admin/faults/fault-404")
    wire("GET", "/__admin/requests?limit=3")
    wire("GET", "/__admin/requests?chat=true&limit=2")
    wire("GET", "/__admin/requests?status=429")
    wire("GET", "/__admin/requests?since=40")
    wire("GET", "/__admin/requests?experiment_id=exp_tools&message=capital")
    wire("GET", "/__admin/requests?call=x", note="not an integer")
    wire("GET", "/__admin/requests?message_regex=(", note="bad regex")
    wire("GET", "/__admin/requests")
    wire("GET", "/__admin/unused")
    wire("GET", "/__admin/unexpected")
    wire("GET", "/__admin/openapi.json")
    wire("GET", "/__admin/")
    wire("GET", "/__admin/server")
    wire.journal_records = wire.journal()  # type: ignore[attr-defined]
    wire("DELETE", "/__admin/requests")
    wire("POST", "/__admin/reset")
    wire("PUT", "/__admin/spec", json_body=SPEC)
    chat(wire, "after a reset to the wire spec", experiment_id="exp_tools")
    yield wire


def settings_scripts() -> Iterator[Script]:
    strict = Script("strict", MockSettings(seed=12, strict=True, stream_done_event=True, api_keys=("wire-key",)))
    chat(strict, experiment_id="exp_unknown")
    chat(strict, stream=True)
    chat(strict, "a key not allowed", headers={"X-API-KEY": "other", "Content-Type": "application/json"})
    strict("GET", "/__admin/info", headers={"X-API-KEY": "other"})
    strict("GET", "/__admin/info")
    strict.journal_records = strict.journal()  # type: ignore[attr-defined]
    yield strict

    tenants = Script("tenants", MockSettings(seed=13, isolate_keys=True, max_tenants=1))
    chat(tenants, "first tenant")
    chat(tenants, "second tenant: no slot", headers={"X-API-KEY": "second", "Content-Type": "application/json"})
    tenants("GET", "/__admin/info")
    tenants("GET", "/__admin/info", headers={"X-API-KEY": "second"})
    tenants("GET", "/__admin/server")
    tenants.journal_records = tenants.journal()  # type: ignore[attr-defined]
    yield tenants


def record() -> dict[str, Any]:
    result = {}
    for script in [*api_script(), *settings_scripts()]:
        result[script.name] = {"answers": script.answers, "journal": script.journal_records}  # type: ignore[attr-defined]
    return result


def test_every_answer_and_journal_record_is_as_before() -> None:
    got = json.loads(json.dumps(record()))
    if os.environ.get("HUMANLOOP_MOCK_WRITE_WIRE"):
        EXPECTED.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert got.keys() == expected.keys()
    for name in expected:
        assert len(got[name]["answers"]) == len(expected[name]["answers"]), name
        for answer, wanted in zip(got[name]["answers"], expected[name]["answers"], strict=True):
            assert answer == wanted, f"{name}: {wanted['request']}"
        assert len(got[name]["journal"]) == len(expected[name]["journal"]), name
        for entry, wanted in zip(got[name]["journal"], expected[name]["journal"], strict=True):
            assert entry == wanted, f"{name}: journal #{wanted['seq']} {wanted['method']} {wanted['path']}"
