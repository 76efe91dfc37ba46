"""The contract checker as users run it: the Schemathesis CLI, our document, hooks and config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Mount, Route

from contracts.openapi import openapi_json
from mockserver import MockSettings, create_app
from mockserver.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
KEY = "checker-key"


def run_checker(base_url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    document = tmp_path / "contract.json"
    document.write_text(openapi_json())
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(ROOT / "contracts" / "schemathesis.toml"),
               "run", str(document), "--url", base_url, "-H", f"X-API-KEY: {KEY}",
               "--max-examples", "8", "--phases", "examples,coverage,fuzzing", *extra]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "contracts.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)


def test_checker_passes_the_mock(tmp_path: Path) -> None:
    with BackgroundServer(create_app(MockSettings(seed=1, api_keys=(KEY,)))) as server:
        result = run_checker(server.base_url, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def broken_stream_app() -> Starlette:
    """The mock, except that chat streams use `data:{...}` (no space), which the Python client drops."""
    mock = create_app(MockSettings(seed=1, api_keys=(KEY,)))

    async def chat(request: Request) -> StreamingResponse:
        events = [b'data:{"data":[{"id":"x","index":0,"output":"hi","raw_output":"hi","model_config_id":"c",'
                  b'"finish_reason":"stop","output_message":{"role":"assistant"}}],"provider_responses":[]}\n\n']

        async def body() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[
        Route("/v4/chat-experiment", chat, methods=["POST"]),
        Mount("/", app=mock),
    ])


def test_checker_catches_a_broken_stream(tmp_path: Path) -> None:
    with BackgroundServer(broken_stream_app()) as server:
        result = run_checker(server.base_url, tmp_path, "--include-path", "/chat-experiment")
    assert result.returncode != 0
    assert "chat_stream_invariants" in result.stdout
