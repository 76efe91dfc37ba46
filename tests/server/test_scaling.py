"""Tenants sharded across `serve --isolate-keys` processes behind HAProxy (examples/scaling/run.sh).

Through the proxy, a tenant behaves exactly as on one server (admin API, official client, journal,
reset), its answers are byte-identical to the same tenant's on one server with the same seed, and a
backend that stops takes only its own tenants with it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from humanloop import Humanloop
from humanloop.exceptions import ApiException

from tests.support.process import serve_process
from tests.support.scaling import (
    ROOT,
    RUN_SH,
    SEARCH_PATH,
    Deployment,
    alive,
    backend_stats,
    free_port,
    launch,
    parse_started,
    running,
    stop,
    wait_ready,
)
from tests.support.tenants import assert_victim_intact, set_up_victim, victim_probe

SEED = "11"
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
WEEKEND = [{"role": "user", "content": "Plan a weekend in Lisbon."}]


@pytest.fixture(scope="module", autouse=True)
def _haproxy() -> None:
    if shutil.which("haproxy", path=SEARCH_PATH) is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is missing: .ci/run installs it (apt-get install haproxy); see its output")
        pytest.skip("haproxy is not installed (apt-get install haproxy); CI installs it and runs these tests")


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    with running(2, "--seed", SEED) as started:
        yield started


@pytest.fixture(scope="module")
def single() -> Iterator[str]:
    """One `serve --isolate-keys` with the same seed: the reference the proxy must match byte for byte."""
    with serve_process("--isolate-keys", "--seed", SEED) as url:
        yield url.removesuffix("/v4")


def chat(root: str, key: str, **body: Any) -> httpx.Response:
    payload = {"experiment_id": "exp_demo", "messages": WEEKEND, **body}
    return httpx.post(f"{root}/v4/chat-experiment", json=payload, headers={"X-API-KEY": key}, timeout=30)


def admin(method: str, root: str, key: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{root}/__admin/{path}", headers={"X-API-KEY": key}, timeout=30, **kwargs)


def journal_total(root: str, key: str) -> int:
    response = admin("GET", root, key, "requests", params={"chat": "true"})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def home_of(deployment: Deployment, key: str) -> str:
    """The backend holding `key`'s world: the one whose journal has the call just sent through the proxy."""
    holders = [b.name for b in deployment.backends if journal_total(b.root_url, key) > 0]
    assert len(holders) == 1, f"{key!r} is journaled on {holders}: a tenant must live in exactly one process"
    return holders[0]


def keys_on_each_backend(deployment: Deployment) -> dict[str, str]:
    """One tenant key per backend (backend name -> key), each reset to the spec afterwards."""
    found: dict[str, str] = {}
    for n in range(64):
        key = f"tenant-{n}"
        assert chat(deployment.root_url, key).status_code == 200
        found.setdefault(home_of(deployment, key), key)
        assert admin("POST", deployment.root_url, key, "reset").status_code == 200
        if len(found) == len(deployment.backends):
            return found
    raise AssertionError(f"64 keys all hashed to {sorted(found)}")


def servers_where(state_dir: Path, holds: Callable[[dict[str, str]], bool], names: list[str],
                  timeout: float = 15) -> list[str]:
    """The servers whose `show stat` row `holds`, as soon as all of `names` do (or when the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        matching = [name for name, row in backend_stats(state_dir).items() if holds(row)]
        if set(names) <= set(matching) or time.monotonic() > deadline:
            return matching
        time.sleep(0.2)


async def _stream_chunks(client: Humanloop, messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    response = await client.chat_experiment_stream(experiment_id="exp_demo", messages=messages, num_samples=2)
    return [chunk async for chunk in response.content]


def scenario(root: str, scripted: str, faulted: str) -> list[Any]:
    """Two tenants driven through /__admin, the official client and raw HTTP; everything they were answered.

    `scripted` gets an always-on script; `faulted` gets a one-off 429. Their calls interleave, so any
    leak between the two (a script, the fault, a counter, the journal) shows in the transcript.
    """
    record: list[Any] = []
    script = {"name": "capital", "match": {"message": "capital"}, "answer": {"output": "Paris."}, "times": None}
    created = admin("POST", root, scripted, "scripts", json=script)
    assert created.status_code == 201, created.text
    record.append(created.content)
    fault = admin("POST", root, faulted, "faults", json={"status": 429, "retry_after": 1})
    assert fault.status_code == 201, fault.text
    record.append(fault.content)

    sdk_scripted = Humanloop(api_key=scripted, host=root + "/v4")
    sdk_faulted = Humanloop(api_key=faulted, host=root + "/v4")
    with pytest.raises(ApiException) as refused:
        sdk_faulted.chat_experiment(experiment_id="exp_demo", messages=CAPITAL)
    assert refused.value.status == 429  # the fault, on its own tenant only
    record.append((refused.value.status, refused.value.body))
    answered = sdk_scripted.chat_experiment(experiment_id="exp_demo", messages=CAPITAL)
    assert answered.data[0].output == "Paris."
    record.append(answered.model_dump(mode="json"))
    unscripted = sdk_faulted.chat_experiment(experiment_id="exp_demo", messages=CAPITAL)
    assert unscripted.data[0].output != "Paris."  # the other tenant's script does not reach it
    record.append(unscripted.model_dump(mode="json"))
    record.append(asyncio.run(_stream_chunks(sdk_scripted, WEEKEND)))
    record.append(asyncio.run(_stream_chunks(sdk_faulted, CAPITAL)))

    for key in (scripted, faulted):  # raw bytes: JSON bodies and whole streams
        record.append(chat(root, key, num_samples=3).content)
        with httpx.stream("POST", f"{root}/v4/chat-experiment", headers={"X-API-KEY": key}, timeout=30,
                          json={"experiment_id": "exp_demo", "messages": CAPITAL, "stream": True}) as streamed:
            assert streamed.status_code == 200
            record.append(streamed.read())

    counts = {key: journal_total(root, key) for key in (scripted, faulted)}
    assert counts == {scripted: 4, faulted: 5}, counts  # the 429 is journaled too
    record.append(counts)
    rules = admin("GET", root, scripted, "scripts").json()
    assert [(r["name"], r["used"]) for r in rules] == [("capital", 2)]
    record.append(rules)
    record.append(admin("GET", root, faulted, "unused").json())
    record.append(admin("GET", root, faulted, "info").json())

    assert admin("POST", root, scripted, "reset").status_code == 200
    assert (journal_total(root, scripted), journal_total(root, faulted)) == (0, 5)
    assert admin("GET", root, scripted, "scripts").json() == []
    again = chat(root, scripted, messages=CAPITAL)
    assert again.status_code == 200 and b'"output":"Paris."' not in again.content
    record.append(again.content)
    return record


def test_two_tenants_through_the_proxy_answer_byte_for_byte_as_on_one_server(
    deployment: Deployment, single: str
) -> None:
    keys = keys_on_each_backend(deployment)
    scripted, faulted = keys["mock1"], keys["mock2"]
    for key in (scripted, faulted):  # the same preparation on the single server: one call, then reset
        assert chat(single, key).status_code == 200
        assert admin("POST", single, key, "reset").status_code == 200

    through_proxy = scenario(deployment.root_url, scripted, faulted)
    on_one_server = scenario(single, scripted, faulted)

    assert len(through_proxy) == len(on_one_server) > 15
    for step, (proxied, direct) in enumerate(zip(through_proxy, on_one_server, strict=True)):
        assert proxied == direct, f"step {step} differs through the proxy"
    # The two tenants really were served by different processes.
    assert home_of(deployment, scripted) == "mock1" and home_of(deployment, faulted) == "mock2"


def test_health_and_contract_through_the_proxy_need_no_key(deployment: Deployment) -> None:
    health = httpx.get(deployment.root_url + "/healthz")
    assert health.status_code == 200 and (health.json()["status"], health.json()["seed"]) == ("ok", int(SEED))
    assert httpx.get(deployment.base_url + "/openapi.json").json()["info"]["title"]
    assert chat(deployment.root_url, "").status_code == 401  # a chat call still needs a key


def test_keyless_requests_share_one_world_as_on_one_server(deployment: Deployment) -> None:
    """Refused keyless calls are journaled in a server's shared world: through the proxy, always mock1's."""
    def shared_journals() -> list[int]:
        return [httpx.get(b.root_url + "/__admin/requests").json()["total"] for b in deployment.backends]

    before = shared_journals()
    for _ in range(4):
        assert httpx.post(deployment.base_url + "/chat-experiment", json={}).status_code == 401
    after = shared_journals()
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 0]
    assert httpx.get(deployment.root_url + "/__admin/requests").json()["total"] == after[0]


def test_run_sh_reports_what_it_started(deployment: Deployment) -> None:
    assert [b.name for b in deployment.backends] == ["mock1", "mock2"]
    assert len({b.port for b in deployment.backends} | {deployment.port}) == 3
    assert all(alive(pid) for pid in deployment.pids())
    for backend in deployment.backends:  # each backend is a real `serve --isolate-keys` with the seed given
        info = admin("GET", backend.root_url, "probe", "info").json()
        assert (info["isolate_keys"], info["seed"]) == (True, int(SEED))


def test_a_stopped_backend_takes_only_its_own_tenants(tmp_path: Path) -> None:
    with running(2, "--seed", SEED, env={"HUMANLOOP_MOCK_SCALING_DIR": str(tmp_path)}) as deployment:
        state = (tmp_path / "state").read_text().split("\n")
        assert state[0] == f"proxy 127.0.0.1:{deployment.port} pid {deployment.proxy_pid}"
        # Both backends pass HAProxy's /healthz checks (its Host header is one a loopback mock accepts).
        up = servers_where(tmp_path, lambda row: (row["status"], row["check_status"]) == ("UP", "L7OK"),
                           ["mock1", "mock2"])
        assert sorted(up) == ["mock1", "mock2"]

        keys = keys_on_each_backend(deployment)
        victim, survivor = deployment.backends
        lost, kept = keys[victim.name], keys[survivor.name]
        root = deployment.root_url
        for key in (lost, kept):
            script = {"match": {"message": "capital"}, "answer": {"output": "Paris."}, "times": None}
            assert admin("POST", root, key, "scripts", json=script).status_code == 201
            assert chat(root, key, messages=CAPITAL).json()["data"][0]["output"] == "Paris."

        os.kill(victim.pid, signal.SIGKILL)

        # The survivor's tenant goes on as if nothing happened: same world, script, counters, journal.
        assert chat(root, kept, messages=CAPITAL).json()["data"][0]["output"] == "Paris."
        assert journal_total(root, kept) == 2
        assert alive(survivor.pid)
        # The victim's tenant is refused (503, upstream error shape) until the health check moves its key
        # to the next backend on the ring, where it starts again from the spec: no script, empty journal.
        # (A call racing the kill on an already open connection may instead see that connection dropped.)
        statuses: list[int | str] = []
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = chat(root, lost, messages=CAPITAL)
            except httpx.TransportError as dropped:
                statuses.append(type(dropped).__name__)
                if time.monotonic() > deadline:
                    break
                continue
            statuses.append(answer.status_code)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            assert answer.status_code == 503 and "detail" in answer.json(), answer.text
            time.sleep(0.2)
        assert statuses[-1] == 200 and len(statuses) < 40, statuses
        assert answer.json()["data"][0]["output"] != "Paris."
        assert admin("GET", root, lost, "scripts").json() == []
        assert journal_total(root, lost) == 1
        assert journal_total(survivor.root_url, lost) == 1  # it now lives on the survivor
        assert servers_where(tmp_path, lambda row: row["status"].startswith("DOWN"), [victim.name]) == [victim.name]
        assert httpx.get(root + "/healthz").status_code == 200
        assert chat(root, kept, messages=CAPITAL).json()["data"][0]["output"] == "Paris."


def _assert_all_gone(deployment: Deployment) -> None:
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in deployment.pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in deployment.pids() if alive(pid)] == [], deployment.text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(deployment.root_url + "/healthz")


def test_sigterm_stops_everything_even_with_a_call_in_flight() -> None:
    deployment = wait_ready(launch(2, "--seed", SEED))
    try:
        assert len(deployment.pids()) == 3 and all(alive(pid) for pid in deployment.pids())
        root = deployment.root_url
        assert admin("POST", root, "slow", "faults", json={"latency": 60}).status_code == 201
        outcome: list[Any] = []
        caller = threading.Thread(target=lambda: outcome.append(_call_outcome(root, "slow")), daemon=True)
        caller.start()  # a call the backend would wait a minute for before it could stop gracefully
        deadline = time.monotonic() + 10
        while journal_total(root, "slow") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert journal_total(root, "slow") == 1  # the call is in the backend
        started = time.monotonic()
        assert stop(deployment, signal.SIGTERM) == 143
        assert time.monotonic() - started < 8  # stragglers are killed after a few seconds
        _assert_all_gone(deployment)
        caller.join(10)
        assert outcome and outcome[0] != 200, outcome  # the client saw its call end, unanswered
    finally:
        stop(deployment, signal.SIGKILL)


def _call_outcome(root: str, key: str) -> int | str:
    try:
        return chat(root, key).status_code
    except httpx.HTTPError as error:
        return type(error).__name__


def test_ctrl_c_stops_everything_and_removes_its_temporary_folder() -> None:
    deployment = wait_ready(launch(1, "--seed", SEED))
    state_dir = Path(next(line for line in deployment.output if "state, config and logs:" in line)
                     .split(": ", 1)[1].strip())
    assert (state_dir / "haproxy.cfg").is_file() and (state_dir / "mock1.log").is_file()
    os.killpg(deployment.process.pid, signal.SIGINT)  # what a terminal sends to the foreground group
    assert deployment.process.wait(20) == 130
    _assert_all_gone(deployment)
    assert not state_dir.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "2"], "No such option '--workers'"),  # click refuses it: one process is one tenant shard
    (["--port", "9000"], "the backends' addresses are chosen here"),
])
def test_bad_serve_arguments_fail_plainly(args: list[str], message: str) -> None:
    deployment = launch(1, *args)
    assert deployment.process.wait(30) != 0
    time.sleep(0.1)
    assert message in deployment.text()
    assert "ready:" not in deployment.text()


def test_usage_and_a_busy_port() -> None:
    usage = subprocess.run([str(RUN_SH)], capture_output=True, text=True, timeout=10)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        refused = launch(1, port=busy.getsockname()[1])
        assert refused.process.wait(30) == 1
    time.sleep(0.1)
    assert "is in use; pick a free one" in refused.text() and "backend" not in refused.text()


def test_proxy_that_cannot_bind_stops_the_backends_it_started() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: nothing answers, but HAProxy cannot bind it
        deployment = launch(1, port=taken.getsockname()[1])
        assert deployment.process.wait(30) == 1
    time.sleep(0.1)
    assert "haproxy did not start" in deployment.text()
    assert "ready:" not in deployment.text()
    parse_started(deployment)
    assert len(deployment.backends) == 1 and deployment.proxy_pid == 0
    _assert_all_gone(deployment)  # the backend it had started is stopped too


def test_a_dropped_connection_stays_dropped_through_the_proxy(deployment: Deployment) -> None:
    """The `reset` fault: the client's connection closes without a response (HAProxy sends no 502 page)."""
    assert admin("POST", deployment.root_url, "dropped", "faults", json={"reset": True}).status_code == 201
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        chat(deployment.root_url, "dropped")
    assert chat(deployment.root_url, "dropped").status_code == 200  # the fault was for one call


def test_the_fixture_in_remote_mode_works_through_the_proxy(deployment: Deployment) -> None:
    """The example project's tests, `pytest --humanloop-url` at the proxy: spec load and resets via /__admin."""
    command = [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "examples/support_app",
               "--humanloop-url", deployment.base_url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 3 and "failed" not in summary, summary
    assert f"humanloop-mock: remote mode, {deployment.base_url}" in done.stdout


def test_output_that_goes_nowhere_neither_stops_it_nor_leaves_orphans(tmp_path: Path) -> None:
    """Its reader gone (`run.sh ... | head -1`): it still comes up, serves, and cleans up on SIGTERM."""
    command = ["bash", "-c", 'exec "$0" "$@" <&-', str(RUN_SH), "1", str(free_port())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                               env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                    f"{os.environ['PATH']}", "HUMANLOOP_MOCK_SCALING_DIR": str(tmp_path)})
    assert process.stdout is not None
    assert process.stdout.readline().startswith(b"  backend mock1 ")
    process.stdout.close()  # every later line now goes to a pipe with no reader
    deadline = time.monotonic() + 45
    while not (tmp_path / "state").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    deployment = parse_started(Deployment(process, 0, output=(tmp_path / "state").read_text().splitlines()))
    deployment.port = int((tmp_path / "state").read_text().split()[1].split(":")[1])
    assert httpx.get(deployment.root_url + "/healthz").status_code == 200
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 143
    _assert_all_gone(deployment)


def test_a_catastrophic_regex_leaves_a_neighbour_on_the_same_backend_fast_and_the_backend_up(tmp_path: Path) -> None:
    """Issue 16, case 2 behind HAProxy: a regex that took 9 s per call held the backend, its health checks
    timed out, it was marked down, and its other tenants' calls landed in a fresh world on the other
    backend without their scripts. Now the neighbour's calls stay fast, its world stays where it is."""
    with running(2, "--seed", SEED, env={"HUMANLOOP_MOCK_SCALING_DIR": str(tmp_path)}) as deployment:
        root = deployment.root_url
        homes: dict[str, list[str]] = {}
        for n in range(64):  # two keys on one backend: a victim and its hostile neighbour
            key = f"neighbour-{n}"
            assert chat(root, key).status_code == 200
            homes.setdefault(home_of(deployment, key), []).append(key)
            if any(len(keys) >= 2 for keys in homes.values()):
                break
        backend, (victim, hostile) = next((name, keys[:2]) for name, keys in homes.items() if len(keys) >= 2)
        world = set_up_victim(root, victim)
        script = {"match": {"message_regex": "(a+)+$"}, "answer": {"output": "x"}, "times": None}
        assert admin("POST", root, hostile, "scripts", json=script).status_code == 201
        statuses = []
        with victim_probe(root, tmp_path, key=victim) as seen:
            deadline = time.monotonic() + 8  # long enough for three health checks to fail, before
            while time.monotonic() < deadline:
                answer = chat(root, hostile, messages=[{"role": "user", "content": "a" * 27 + "b"}])
                assert answer.status_code == 200
                listed = admin("GET", root, hostile, "requests", params={"message_regex": "(a+)+$"})
                assert listed.status_code == 200
                statuses.append(backend_stats(tmp_path)[backend]["status"])
        probe = seen[0]
        probe.assert_counted(50)
        assert not probe.failures, probe.summary()
        assert probe.slowest < 0.25, probe.summary()
        assert len(statuses) >= 5 and set(statuses) == {"UP"}, statuses
        assert_victim_intact(root, world, victim)
        assert home_of(deployment, victim) == backend  # its world never moved
