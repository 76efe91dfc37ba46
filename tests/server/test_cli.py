"""`humanloop-mock serve` as a user runs it: the banner, the default world, the flags."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, fields
from pathlib import Path

import httpx
import pytest

from mockserver import MockSettings
from mockserver.cli import ServeSettings, serve
from mockserver.http.connection import ConnectionLimits
from mockserver.http.server import ServerOptions
from tests.conftest import chat_body, read_banner
from tests.support.process import serve_process


def test_serve_default_answers_the_printed_example() -> None:
    with serve_process() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        reply = httpx.post(f"{base_url}/chat-experiment", headers={"X-API-KEY": "any-key"},
                           json={"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hello"}]})
        assert reply.status_code == 200
        assert reply.json()["data"][0]["model_config_id"] in {"config_demo_helpful", "config_demo_concise"}
        assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok", "seed": 0}


def test_serve_flags_strict_key_and_seed() -> None:
    with serve_process("--strict", "--api-key", "k1", "--seed", "9") as base_url:
        assert httpx.get(f"{base_url}/healthz").json()["seed"] == 9
        assert httpx.post(f"{base_url}/chat-experiment", json=chat_body(),
                          headers={"X-API-KEY": "other"}).status_code == 401
        unknown = httpx.post(f"{base_url}/chat-experiment", json=chat_body(experiment_id="exp_new"),
                             headers={"X-API-KEY": "k1"})
        assert unknown.status_code == 404


def test_serve_applies_scripts_and_faults_from_a_config_file() -> None:
    config = str(Path(__file__).resolve().parents[2] / "examples" / "configs" / "scripted.yaml")
    with serve_process("--config", config) as base_url, httpx.Client(base_url=base_url,
                                                                      headers={"X-API-KEY": "k"}) as http:
        def ask(text: str) -> httpx.Response:
            return http.post("/chat-experiment", json=chat_body(
                experiment_id="exp_checkout", messages=[{"role": "user", "content": text}]))

        throttled = ask("hello")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
        assert ask("hello").json()["data"][0]["output"] == "Hello! How can I help with your order?"
        assert ask("hello there").json()["data"][0]["output"] == "Hello! How can I help with your order?"
        first = ask("I want a refund").json()["data"][0]
        assert first["finish_reason"] == "tool_call" and first["tool_calls"][0]["function"]["name"] == "lookup_order"
        assert ask("refund status?").json()["data"][0]["output"] == "Your refund for A1 is on its way."


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver.cli", *args], capture_output=True, text=True, timeout=60)


def test_version_and_check_config_lists_what_a_file_declares() -> None:
    assert re.fullmatch(r"humanloop-mock, version \d+\.\d+\.\d+\S*\n", _cli("--version").stdout)
    config = str(Path(__file__).resolve().parents[2] / "examples" / "configs" / "scripted.yaml")
    listing = _cli("check-config", config)
    assert listing.returncode == 0
    assert "serving" not in listing.stdout and "Try it" not in listing.stdout
    assert "experiment 'checkout-bot': exp_checkout" in listing.stdout
    assert "script 'greeting': 'Hello! How can I help with your order?' when experiment_id='exp_checkout'" \
        in listing.stdout
    assert "fault 'first-call-throttled': status=429, retry_after=1.0 when call=1 (1x)" in listing.stdout


@contextmanager
def serve_banner(*args: str) -> Iterator[list[str]]:
    """The banner `serve` prints, while the server runs (stopped on exit)."""
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield read_banner(process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def python_snippet(banner: list[str]) -> str:
    """The banner's Python example, as a reader would copy it."""
    start = next(i for i, line in enumerate(banner) if line.startswith(("  import ", "  from humanloop")))
    end = next(i for i, line in enumerate(banner) if line.startswith("  print("))
    return textwrap.dedent("".join(banner[start:end + 1]))


@pytest.mark.parametrize("key", [None, "banner-key"])
def test_the_banners_python_example_runs_as_printed(key: str | None) -> None:
    """Pasted as it is (with the key in HUMANLOOP_API_KEY when `serve` was given --api-key), it gets an answer."""
    env = {name: value for name, value in os.environ.items() if name != "HUMANLOOP_API_KEY"}
    with serve_banner(*(("--api-key", key) if key else ())) as banner:
        snippet = python_snippet(banner)
        run = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120,
                             env={**env, "HUMANLOOP_API_KEY": key} if key else env)
    assert run.returncode == 0, snippet + run.stderr
    assert run.stdout.strip()  # the answer's text
    assert ("os.environ" in snippet) == ("import os" in snippet) == (key is not None)


def test_serve_banner_lists_rules_points_at_admin_and_never_prints_keys(tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[2] / "examples" / "configs" / "scripted.yaml"
    with serve_banner("--api-key", "top-secret-key", "--config", str(config), "--isolate-keys") as lines:
        pass
    banner = "".join(lines)
    assert "top-secret-key" not in banner
    assert "script 'refund-flow': 2 answers" in banner and "fault 'first-call-throttled'" in banner
    assert "/__admin/" in banner and "isolated keys" in banner


def test_every_serve_flag_sets_one_settings_field_with_that_fields_default() -> None:
    """One settings object: each `serve` flag is a field of `MockSettings` or `ServerOptions` (or where to listen
    and what to log), and its default is the field's own, so `serve` and `create_app` start the same world."""
    mock_fields = {f.name: f for f in fields(MockSettings)}
    server_fields = {f.name: f for f in fields(ServerOptions)}
    own = {"host", "port", "log_level", "config_path", "report", "junit"}
    checked = 0
    for name, flag_default in serve.make_context("serve", []).params.items():  # what the flags give unset
        if name in own:
            continue
        field = mock_fields.get(name) or server_fields.get(name)
        assert field is not None, f"--{name} sets no field"
        default = field.default if field.default is not MISSING else field.default_factory()  # type: ignore[misc]
        if name == "access_log":
            assert flag_default is True and default is False  # `serve` logs requests; tests have the journal
        else:
            assert flag_default == default, name
        checked += 1
    assert checked == 31
    assert ServerOptions().limits() == ConnectionLimits() and ConnectionLimits().max_connections == 16_384


def test_serve_settings_put_each_flag_in_its_field() -> None:
    context = serve.make_context("serve", ["--seed", "9", "--max-connections", "77", "--api-key", "k",
                                           "--log-level", "warning", "--allowed-host", "mock.test"])
    settings = ServeSettings.from_flags(dict(context.params))
    assert settings.mock.seed == 9 and settings.mock.api_keys == ("k",) and settings.server.max_connections == 77
    assert settings.server.allowed_hosts == ("mock.test",) and settings.log_level == "warning"
    assert settings.mock.access_log is False  # no lines below log level info
    assert settings.mock.max_body_bytes == MockSettings().max_body_bytes
