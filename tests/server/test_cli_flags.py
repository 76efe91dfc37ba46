"""Every number, address and combination `serve` and `check` take, at its edges: a bad one is a usage
error naming the flag (exit 2), before anything binds or runs; never a server that starts and then
breaks on its first connection, or a run that reports on a target it never asked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from mockserver.cli import main
from tests.support.process import serve_process

SERVE_FLOATS = ["--tenant-idle-timeout", "--header-timeout", "--body-timeout", "--idle-timeout", "--send-timeout",
                "--shutdown-timeout", "--replay-speed"]
CHECK_FLOATS = ["--max-first-byte", "--timeout", "--stream-timeout", "--deadline", "--progress-every"]


@pytest.mark.parametrize("value", ["nan", "inf", "NaN", "+inf", "1e999"])
@pytest.mark.parametrize("flag", SERVE_FLOATS)
def test_serve_takes_only_finite_seconds_and_speeds(flag: str, value: str) -> None:
    """Before: `--header-timeout nan` started a server whose every connection failed (ValueError: cannot
    convert float NaN to integer, logged per connection); `--replay-speed inf` was taken."""
    args = ["serve", "--port", "0", flag, value] + (["--replay", "absent.har"] if flag == "--replay-speed" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}': {value!r} is not a finite number." in result.output


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize("flag", CHECK_FLOATS)
def test_check_takes_only_finite_seconds(flag: str, value: str) -> None:
    """Before: `check --deadline nan` sent nothing and failed the target with 'coverage' violations."""
    result = CliRunner().invoke(main, ["check", "http://127.0.0.1:9/v4", "--api-key", "k", flag, value])
    assert result.exit_code == 2 and f"Invalid value for '{flag}': {value!r} is not a finite number." in result.output


@pytest.mark.parametrize(("flag", "value"), [("--port", "99999"), ("--port", "-1"), ("--port", "1e9"),
                                             ("--port", "nan"), ("--seed", "1.5"), ("--max-body-bytes", "0"),
                                             ("--max-header-bytes", "100"), ("--max-connections", "inf")])
def test_integers_out_of_range_are_usage_errors(flag: str, value: str) -> None:
    result = CliRunner().invoke(main, ["serve", flag, value])
    assert result.exit_code == 2 and f"Invalid value for '{flag}'" in result.output


@pytest.mark.parametrize("host", ["", "  ", "[]"])
def test_an_empty_host_is_refused_not_read_as_every_interface(host: str) -> None:
    """Before: `--host ''` (or HUMANLOOP_MOCK_HOST set to '') bound every interface, the socket layer's
    reading of an empty address, and printed http://:PORT/v4."""
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--host", host])
    assert result.exit_code == 2 and "--host" in result.output and "empty; give an address to bind" in result.output
    variable = CliRunner().invoke(main, ["serve", "--port", "0", "--replay-speed", "2"],  # (stops before binding)
                                  env={"HUMANLOOP_MOCK_HOST": host})
    assert variable.exit_code == 2  # refused as empty, or (click ignores a variable set to '') the default host
    assert ("empty; give an address" if host.strip("[] ") != host or host else "--replay-speed sets") in variable.output


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_host_may_be_written_as_a_url_writes_it() -> None:
    """Before: `--host [::1]` was 'cannot bind [::1]:0: Name or service not known'."""
    with serve_process("--host", "[::1]") as base_url:
        assert base_url.startswith("http://[::1]:")
        assert httpx.get(f"{base_url}/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(("args", "message"), [
    (["--record-on-miss"], "--record-on-miss needs --replay FILE and --upstream URL"),
    (["--replay-speed", "2"], "--replay-speed sets how --replay answers: give --replay FILE"),
    (["--replay-ignore", "user"], "--replay-ignore sets how --replay answers: give --replay FILE"),
    (["--replay", "same.har", "--record", "./same.har"], "--record and --replay name the same file"),
    (["--upstream", "http://127.0.0.1:9/v4", "--report", "no/such/folder/r.json"],
     "Invalid value for --report: no/such/folder/r.json: cannot write there: No such file or directory"),
    (["--upstream", "http://127.0.0.1:9/v4", "--junit", "no/such/folder/r.xml"], "Invalid value for --junit"),
])
def test_flags_that_do_nothing_or_contradict_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             args: list[str], message: str) -> None:
    """Before: `--record-on-miss`, `--replay-speed` and `--replay-ignore` without `--replay` were ignored in
    silence; `--record` onto the `--replay` cassette appended each replayed answer to its own source; a
    `--report` into a missing folder was found out at shutdown, after the whole run, and exit 0."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def _process(*args: str, env: dict[str, str] | None = None) -> Any:
    """serve in a process: after binding, its errors go through the console queue CliRunner does not see."""
    done = subprocess.run([sys.executable, "-m", "mockserver.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})
    return SimpleNamespace(exit_code=done.returncode, output=done.stdout + done.stderr)


def test_an_upstream_that_is_not_a_url_is_named() -> None:
    """Before: 'Error: Invalid IPv6 URL', without the flag."""
    result = _process("serve", "--port", "0", "--upstream", "http://[::1/v4")
    assert result.exit_code == 1 and "--upstream is not a URL (Invalid IPv6 URL): 'http://[::1/v4'" in result.output


@pytest.mark.parametrize(("variable", "value", "code", "message"), [
    ("HUMANLOOP_MOCK_PORT", "abc", 2, "Invalid value for '--port' (env var: 'HUMANLOOP_MOCK_PORT'): 'abc'"),
    ("HUMANLOOP_MOCK_SEED", "1.5", 2, "Invalid value for '--seed' (env var: 'HUMANLOOP_MOCK_SEED'): '1.5'"),
    ("HUMANLOOP_MOCK_STRICT", "maybe", 2, "Invalid value for '--strict' (env var: 'HUMANLOOP_MOCK_STRICT')"),
    ("HUMANLOOP_MOCK_CONFIG", "/dev/zero", 1, "/dev/zero: unknown config format ''"),
    ("HUMANLOOP_MOCK_CONFIG", "/dev/zero.yaml", 1, "/dev/zero.yaml: no such file"),
    ("HUMANLOOP_MOCK_UPSTREAM", "ftp://x", 1, "--upstream must be an http:// or https:// URL"),
])
def test_odd_environment_values_are_named(variable: str, value: str, code: int, message: str) -> None:
    port = [] if variable == "HUMANLOOP_MOCK_PORT" else ["--port", "0"]  # (the flag would win over the variable)
    result = _process("serve", *port, env={variable: value})
    assert result.exit_code == code and message in result.output and "Traceback" not in result.output
