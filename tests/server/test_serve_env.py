"""`serve` configured by HUMANLOOP_MOCK_* variables (what a container or CI service is given), and what its
banner says when bound to every address. The image itself is tested in tests/server/test_container.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mockserver.cli import host_check_note, local_url
from tests.conftest import read_banner
from tests.support.process import URL

ROOT = Path(__file__).resolve().parents[2]
SCRIPTED = ROOT / "examples" / "configs" / "scripted.yaml"


def banner_and_url(*args: str, env: dict[str, str]) -> tuple[str, str, list[int]]:
    """Start `serve` with `env` added, read its banner, try a few requests, stop it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUMANLOOP_MOCK_")}
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--log-level", "warning", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**clean, "PYTHONUNBUFFERED": "1", **env})
    try:
        banner = "".join(read_banner(process))
        match = URL.search(banner)
        assert match, banner
        url = match.group(1)
        statuses = [httpx.get(url.removesuffix("/v4") + "/healthz", headers={"Host": host}, timeout=10).status_code
                    for host in ("ci.internal", "evil.example")]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    return banner, url, statuses


def test_every_container_setting_comes_from_the_environment() -> None:
    banner, _url, statuses = banner_and_url(env={
        "HUMANLOOP_MOCK_PORT": "0", "HUMANLOOP_MOCK_SEED": "9", "HUMANLOOP_MOCK_STRICT": "true",
        "HUMANLOOP_MOCK_ISOLATE_KEYS": "1", "HUMANLOOP_MOCK_CONFIG": str(SCRIPTED),
        "HUMANLOOP_MOCK_ALLOWED_HOSTS": "ci.internal other.internal", "HUMANLOOP_MOCK_API_KEYS": "env-secret-key"})
    assert "(seed 9, strict, isolated keys, at most 256 tenants)" in banner
    assert "experiment 'checkout-bot': exp_checkout" in banner  # the config file
    assert statuses == [200, 400]  # the allowed host passes, another is refused
    assert "env-secret-key" not in banner and "one of the keys given with --api-key" in banner


def test_a_flag_beats_its_variable_and_false_means_off() -> None:
    banner, url, statuses = banner_and_url("--port", "0", "--seed", "4", env={
        "HUMANLOOP_MOCK_PORT": "1", "HUMANLOOP_MOCK_SEED": "9", "HUMANLOOP_MOCK_STRICT": "false",
        "HUMANLOOP_MOCK_ISOLATE_KEYS": "0"})
    assert "(seed 4)" in banner and "strict" not in banner.splitlines()[0] and not url.endswith(":1/v4")
    assert statuses == [400, 400]  # loopback, no allowed host: only loopback names pass


def test_a_bad_variable_is_named_in_the_error() -> None:
    result = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve"], capture_output=True, text=True,
                            env={**os.environ, "HUMANLOOP_MOCK_PORT": "eighty"}, timeout=60)
    assert result.returncode == 2 and "HUMANLOOP_MOCK_PORT" in result.stderr and "eighty" in result.stderr


@pytest.mark.parametrize(("host", "url"), [("0.0.0.0", "http://127.0.0.1:8000/v4"), ("::", "http://127.0.0.1:8000/v4"),
                                           ("127.0.0.1", "http://127.0.0.1:8000/v4"), ("10.0.0.5", "http://10.0.0.5:8000/v4")])
def test_the_printed_url_is_one_the_host_check_answers(host: str, url: str) -> None:
    # `http://0.0.0.0:8000` would send `Host: 0.0.0.0`, which the check refuses: print where it is reached.
    assert local_url(host, 8000) == url


def test_the_banner_says_which_hosts_a_wildcard_bind_answers() -> None:
    assert host_check_note("127.0.0.1", ("x.internal",)) is None  # loopback: the usual rule, said in server.md
    on = host_check_note("0.0.0.0", ("humanloop-mock", "humanloop-mock.internal"))
    assert on == ("Listening on 0.0.0.0: answers Host 127.0.0.1, localhost, [::1], humanloop-mock, "
                  "humanloop-mock.internal; others get 400 (add names with --allowed-host or "
                  "$HUMANLOOP_MOCK_ALLOWED_HOSTS).")
    for allowed in ((), ("*",)):
        assert host_check_note("0.0.0.0", allowed) == ("Listening on 0.0.0.0: every Host header is answered "
                                                        "(the Host check is off).")
