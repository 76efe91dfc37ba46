"""Shared fixtures: an app per test (in-process) and a helper to build chat requests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer

# The upstream documents the contract is measured against (shared/reference beside the checkout).
REFERENCE = Path(os.environ.get("HUMANLOOP_MOCK_REFERENCE")
                 or Path(__file__).resolve().parents[2] / "shared" / "reference")
KEY = {"X-API-KEY": "test-key"}


def read_banner(process: subprocess.Popen[str]) -> list[str]:
    """The lines `serve` prints at start, up to its last (`Unknown experiment ids ...`)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Unknown experiment ids"):
            break
    return lines


def chat_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment_id": "exp_demo",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    body.update(overrides)
    return body


@pytest.fixture
def settings() -> MockSettings:
    return MockSettings(seed=7)


@pytest.fixture
def client(settings: MockSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def live_server(settings: MockSettings) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(settings)) as server:
        yield server


def spec_with_configs(*configs: dict[str, Any], experiment_id: str = "exp_test") -> Any:
    """A MockSpec with one project and one experiment holding the given configs."""
    from mockserver.spec.models import MockSpec

    return MockSpec.model_validate({
        "projects": [{"id": "pr_test", "name": "test", "experiments": [
            {"id": experiment_id, "name": "test", "configs": list(configs)}
        ]}]
    })
