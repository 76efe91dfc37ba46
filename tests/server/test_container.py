"""The container image (Containerfile), built from this checkout by examples/container/build.sh and run
with podman as a CI service would run it.

One container is configured entirely by environment (keys, seed, a mounted config file, strict mode,
isolated keys, an extra allowed host name) and checked from the host the way users reach it: the
official client, `humanloop-mock check`, `/__admin`, `Host` headers, and from a second container by
service name. Another is stopped with SIGTERM while it streams. All of it is one test with a subtest
per promise, so that `pytest -n 2` builds the image once, on one worker; names carry a random token
and ports are free loopback ports, so two runs on one machine do not clash.

Needs podman, runc and mmdebstrap (.ci/run installs them): skipped without them, failed under CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from humanloop import Humanloop
from humanloop.exceptions import InvalidHostConfigurationError

from tests.support.process import serve_process
from tests.support.scaling import ROOT, SEARCH_PATH, free_port

BUILD_SH = ROOT / "examples" / "container" / "build.sh"
CONTAINERS_CONF = os.environ.get("CONTAINERS_CONF") or str(ROOT / "examples" / "container" / "containers.conf")
TOOLS = ("podman", "runc", "mmdebstrap")
TOKEN = secrets.token_hex(4)
KEYS = (f"ci-key-a-{TOKEN}", f"ci-key-b-{TOKEN}")
WRONG_KEY = f"wrong-key-{TOKEN}"
SEED = "31"
# The image answers these Host names by default: name the CI service so (the official Python client refuses a
# host without a dot, such as `localhost` or `humanloop-mock`: it needs 127.0.0.1 or the `.internal` name).
SERVICE_NAMES = ("humanloop-mock", "humanloop-mock.internal")
EXTRA_HOST = "mock.ci.internal"  # added through HUMANLOOP_MOCK_ALLOWED_HOSTS
SIZE_BUDGET_MB = 300  # docs/container.md
HEALTHY_WITHIN = 10.0  # seconds from `podman run` to a passing health check
SHUTDOWN_TIMEOUT = 2.0
CONFIG = """\
# Mounted into the container at /config/humanloop.yaml (HUMANLOOP_MOCK_CONFIG).
projects:
  - name: ci
    id: pr_ci
    experiments:
      - name: ci-bot
        id: exp_ci
        configs:
          - {id: config_ci_main, model: gpt-4o, weight: 3}
          - {id: config_ci_small, model: gpt-4o-mini, weight: 1}
scripts:
  - name: from-the-file
    match: {message: which config file}
    answer: {output: "The one mounted at /config/humanloop.yaml."}
    times: null
"""
CONFIG_IDS = {"config_ci_main", "config_ci_small"}
MESSAGES = [{"role": "user", "content": "Plan a weekend in Lisbon."}]


@dataclass
class Podman:
    """podman with this machine's settings: runc as the runtime and the project's containers.conf."""

    runtime: str
    env: dict[str, str] = field(default_factory=lambda: {**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF})

    def __call__(self, *args: str, check: bool = True, timeout: float = 120,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", "--runtime", self.runtime, *args], capture_output=True, text=True,
                                timeout=timeout, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args[:3])} failed ({result.returncode}):\n"
                                 f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result

    def logs(self, name: str) -> str:
        result = self("logs", name)
        return result.stdout + result.stderr


@dataclass
class Image:
    tag: str
    podman: Podman
    build_output: str


@dataclass
class Container:
    name: str
    port: int
    image: Image
    network: str
    healthy_after: float

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def podman(self) -> Podman:
        return self.image.podman

    def request(self, method: str, path: str, key: str | None = KEYS[0], **kwargs: Any) -> httpx.Response:
        headers = {"X-API-KEY": key} if key else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.request(method, self.root + path, headers=headers, timeout=30, **kwargs)

    def chat(self, key: str = KEYS[0], **body: Any) -> httpx.Response:
        return self.request("POST", "/v4/chat-experiment", key, json={"experiment_id": "exp_ci", "messages": MESSAGES,
                                                                       **body})


def _missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool, path=SEARCH_PATH) is None]


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    """The image, built once by build.sh from this checkout (base cached between runs)."""
    missing = _missing_tools()
    if missing:
        message = f"{', '.join(missing)} missing: .ci/run installs them (apt-get install podman runc mmdebstrap)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + "; CI installs them and runs this test")
    podman = Podman(shutil.which("runc", path=SEARCH_PATH) or "runc")
    tag = f"localhost/humanloop-mock:test-{TOKEN}"
    env = {**podman.env, "PODMAN_RUNTIME": podman.runtime}
    result = subprocess.run(["bash", str(BUILD_SH), tag], capture_output=True, text=True, timeout=1200, env=env,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"build.sh failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    try:
        yield Image(tag, podman, result.stdout)
    finally:
        podman("rmi", "-f", tag, check=False)  # its layers stay cached for the next build



@pytest.fixture(scope="module")
def network(image: Image) -> Iterator[str]:
    """A network of our own, as a CI job's services share one."""
    name = f"hlm-net-{TOKEN}"
    image.podman("network", "create", name)
    try:
        yield name
    finally:
        image.podman("network", "rm", "-f", name, check=False)


@contextmanager
def running(image: Image, role: str, network: str, *serve_args: str, env: dict[str, str] | None = None,
            volumes: tuple[str, ...] = ()) -> Iterator[Container]:
    """A container of the image on a free loopback port, healthy; removed on exit whatever happened."""
    name, port = f"hlm-{role}-{TOKEN}", free_port()
    args = ["run", "-d", "--name", name, "--network", network, "-p", f"127.0.0.1:{port}:8000"]
    for variable in env or {}:
        args += ["-e", variable]  # the value comes from podman's environment: never on a command line
    for volume in volumes:
        args += ["-v", volume]
    started = time.monotonic()
    image.podman(*args, image.tag, *serve_args, env=env)
    try:
        yield Container(name, port, image, network, wait_healthy(image.podman, name, started))
    finally:
        image.podman("rm", "-f", "-t", "0", name, check=False)


def wait_healthy(podman: Podman, name: str, started: float, timeout: float = 60) -> float:
    """Seconds from `podman run` until the image's own HEALTHCHECK passes (run on demand: podman
    schedules health checks with systemd timers, and these machines have no systemd)."""
    while podman("healthcheck", "run", name, check=False, timeout=30).returncode != 0:
        state = podman("inspect", name, "--format", "{{.State.Status}}", check=False).stdout.strip()
        if state != "running" or time.monotonic() - started > timeout:
            raise AssertionError(f"{name} never got healthy (state {state!r}):\n{podman.logs(name)[-4000:]}")
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("container") / "humanloop.yaml"
    path.write_text(CONFIG)
    path.chmod(0o644)  # the container's user (uid 10001) reads it
    return path


@pytest.fixture(scope="module")
def service(image: Image, network: str, config_file: Path) -> Iterator[Container]:
    """The mock as a CI service: every setting by environment, the config file mounted read-only."""
    env = {
        "HUMANLOOP_MOCK_API_KEYS": " ".join(KEYS),
        "HUMANLOOP_MOCK_SEED": SEED,
        "HUMANLOOP_MOCK_CONFIG": "/config/humanloop.yaml",
        "HUMANLOOP_MOCK_STRICT": "true",
        "HUMANLOOP_MOCK_ISOLATE_KEYS": "true",
        "HUMANLOOP_MOCK_ALLOWED_HOSTS": " ".join((*SERVICE_NAMES, EXTRA_HOST)),
    }
    with running(image, "service", network, env=env, volumes=(f"{config_file}:/config/humanloop.yaml:ro",)) as c:
        yield c


@pytest.fixture(scope="module")
def plain(image: Image, network: str) -> Iterator[Container]:
    """The image as it comes, with one flag after the image name (a short shutdown timeout, for the SIGTERM check)."""
    with running(image, "plain", network, "--shutdown-timeout", str(SHUTDOWN_TIMEOUT)) as c:
        yield c


# Each check is one promise of docs/container.md; test_container_image runs them in order as subtests.

def image_settings_and_size(c: Container) -> None:
    """Non-root user, health check kept (docker format), port 8000, entrypoint `serve`, within budget."""
    info = json.loads(c.podman("image", "inspect", c.image.tag).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert "/healthz" in " ".join(info["Healthcheck"]["Test"]), info.get("Healthcheck")  # top level in podman
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"][-2:] == ["humanloop-mock", "serve"]
    size_mb = (info["Size"] + 500_000) // 1_000_000
    assert f"size: {size_mb} MB ({info['Size']} bytes); budget {SIZE_BUDGET_MB} MB" in c.image.build_output
    assert size_mb <= SIZE_BUDGET_MB


def healthy_within_seconds(c: Container) -> None:
    """The health check passes soon after start, and fails where nothing answers on the port."""
    assert c.healthy_after < HEALTHY_WITHIN, f"healthy after {c.healthy_after:.1f} s"
    idle = f"hlm-idle-{TOKEN}"
    c.podman("run", "-d", "--name", idle, "--entrypoint", "sleep", c.image.tag, "60")
    try:
        probe = c.podman("healthcheck", "run", idle, check=False)
    finally:
        c.podman("rm", "-f", "-t", "0", idle, check=False)
    assert probe.returncode != 0 and "unhealthy" in probe.stdout + probe.stderr, probe


PROCESSES = """\
import json, os
rows = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        status = open(f'/proc/{pid}/status').read()
        command = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode().strip()
    except OSError:
        continue
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith('Uid:'))
    rows.append([int(pid), uids, command])
print(json.dumps(rows))
"""


def container_processes(c: Container) -> list[tuple[int, list[str], str]]:
    return [tuple(row) for row in json.loads(c.podman("exec", c.name, "python3", "-c", PROCESSES).stdout)]


def not_root(c: Container) -> None:
    """Every process runs as uid 10001 (real, effective, saved, file system), which cannot change the install."""
    processes = container_processes(c)
    commands = [command for _, _, command in processes]
    assert any("humanloop-mock serve" in command for command in commands), commands
    assert processes[0][0] == 1 or any(pid == 1 for pid, _, _ in processes)
    for pid, uids, command in processes:
        assert uids == ["10001"] * 4, (pid, uids, command)
    write = c.podman("exec", c.name, "sh", "-c", "touch /opt/humanloop-mock/bin/x", check=False)
    assert write.returncode != 0 and "Permission denied" in write.stderr


async def collect_stream(client: Humanloop, **kwargs: Any) -> list[dict[str, Any]]:
    response = await client.chat_experiment_stream(**kwargs)
    return [chunk async for chunk in response.content]


def official_client(c: Container) -> None:
    """humanloop==0.7.32 from the host: a JSON answer, then the same answer streamed; the hosts it takes."""
    for refused in ("localhost", SERVICE_NAMES[0]):  # the client's own host check: a dot, or an IPv4 address
        with pytest.raises(InvalidHostConfigurationError):
            Humanloop(api_key=KEYS[0], host=f"http://{refused}:8000/v4")
    Humanloop(api_key=KEYS[0], host=f"http://{SERVICE_NAMES[1]}:8000/v4")  # accepted
    client = Humanloop(api_key=KEYS[0], host=f"http://127.0.0.1:{c.port}/v4")
    assert c.request("POST", "/__admin/reset").status_code == 200
    reply = client.chat_experiment(experiment_id="exp_ci", messages=MESSAGES, num_samples=2)
    assert reply.project_id == "pr_ci" and {d.model_config_id_ for d in reply.data} <= CONFIG_IDS
    assert all(d.output for d in reply.data)
    assert c.request("POST", "/__admin/reset").status_code == 200
    chunks = asyncio.run(collect_stream(client, experiment_id="exp_ci", messages=MESSAGES, num_samples=2))
    assert len(chunks) > 2
    assembled: dict[int, str] = {}
    for chunk in chunks:
        assembled[chunk["index"]] = assembled.get(chunk["index"], "") + chunk["output"]
    assert assembled == {d.index: d.output for d in reply.data}


def same_bytes_as_serve_on_the_host(c: Container, config_file: Path) -> None:
    """Seed and config reach the server by environment: its answers match `serve` on the host byte for byte."""
    answers = []
    with serve_process("--seed", SEED, "--config", str(config_file), "--strict", "--isolate-keys") as url:
        for root in (c.root, url.removesuffix("/v4")):
            headers = {"X-API-KEY": KEYS[0]}
            assert httpx.post(root + "/__admin/reset", headers=headers, timeout=30).status_code == 200
            bodies = [{"experiment_id": "exp_ci", "messages": MESSAGES, "num_samples": 3, "stream": stream}
                      for stream in (False, True, False)]
            answers.append([httpx.post(root + "/v4/chat-experiment", json=body, headers=headers, timeout=30).content
                            for body in bodies])
    assert answers[0][0].startswith(b'{"project_id":"pr_ci"') and answers[0][1].startswith(b"data: ")
    assert answers[0] == answers[1]


def contract_checker(c: Container, work: Path) -> None:
    """`humanloop-mock check` from the host (with the official client's profile) passes against the container."""
    report = work / "report.json"
    env = {**os.environ, "HUMANLOOP_API_KEY": KEYS[1], "XDG_CACHE_HOME": str(work / "cache"), "PYTHONUNBUFFERED": "1"}
    command = [str(Path(sys.executable).parent / "humanloop-mock"), "check", f"{c.root}/v4",
               "--experiment-id", "exp_ci", "--max-examples", "3", "--max-first-byte", "10", "--report", str(report)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "SDK profile: humanloop 0.7.32" in result.stdout and "PASS" in result.stdout
    outcome = json.loads(report.read_text())
    assert outcome["result"] == "pass" and outcome["violations"] == []
    coverage = outcome["coverage"]
    assert coverage["chat_json_2xx"] > 0 and coverage["chat_stream_2xx"] > 0
    assert coverage["stream_events"] > coverage["chat_stream_2xx"]
    assert KEYS[1] not in result.stdout + report.read_text()


def admin_drives_it(c: Container) -> None:
    """Scripts, faults, the journal, info and reset over /__admin; each key its own world (isolated keys)."""
    capital = [{"role": "user", "content": "What is the capital of France?"}]
    assert c.request("POST", "/__admin/reset").status_code == 200
    added = c.request("POST", "/__admin/scripts", json={"match": {"message": "capital"},
                                                         "answer": {"output": "Paris, said the admin API."}})
    assert added.status_code == 201, added.text
    assert c.request("POST", "/__admin/faults", json={"match": {"call": 2}, "status": 503}).status_code == 201
    assert c.chat(messages=capital).json()["data"][0]["output"] == "Paris, said the admin API."
    refused = c.chat(messages=capital)
    assert refused.status_code == 503 and "detail" in refused.json()
    other_world = c.chat(KEYS[1], messages=capital)
    assert other_world.status_code == 200 and other_world.json()["data"][0]["output"] != "Paris, said the admin API."
    journal = c.request("GET", "/__admin/requests", params={"chat": "true"})
    assert journal.status_code == 200 and journal.json()["total"] == 2  # this key's two calls, not the other's
    assert [entry["status"] for entry in journal.json()["requests"]] == [200, 503]
    assert KEYS[0] not in journal.text
    info = c.request("GET", "/__admin/info").json()
    assert (info["seed"], info["strict"], info["isolate_keys"]) == (int(SEED), True, True)
    assert c.request("POST", "/__admin/reset").status_code == 200
    assert [script["name"] for script in c.request("GET", "/__admin/scripts").json()] == ["from-the-file"]


def config_file_loaded(c: Container) -> None:
    """The mounted file's experiment and script are there; strict mode (by environment) refuses the rest."""
    logs = c.podman.logs(c.name)
    assert "experiment 'ci-bot': exp_ci" in logs and "script 'from-the-file'" in logs
    assert c.request("GET", "/__admin/spec").json()["projects"][0]["id"] == "pr_ci"
    scripted = c.chat(KEYS[1], messages=[{"role": "user", "content": "which config file is this?"}])
    assert scripted.json()["data"][0]["output"] == "The one mounted at /config/humanloop.yaml."
    unknown = c.request("POST", "/v4/chat-experiment", json={"experiment_id": "exp_elsewhere", "messages": MESSAGES})
    assert unknown.status_code == 404, unknown.text


PROBE = """\
import sys, urllib.error, urllib.request
for url in sys.argv[1:]:
    try:
        print(urllib.request.urlopen(url, timeout=10).status)
    except urllib.error.HTTPError as error:
        print(error.code)
"""


def host_check(c: Container) -> None:
    """On 0.0.0.0 the Host check stays on: loopback names, the service name and allowed names pass; an
    unknown name, 0.0.0.0 or the container's address are refused. Another container reaches it by name."""
    expected = {f"localhost:{c.port}": 200, f"127.0.0.1:{c.port}": 200, f"{SERVICE_NAMES[0]}:8000": 200,
                f"{SERVICE_NAMES[1]}:8000": 200, EXTRA_HOST: 200, "evil.example": 400, f"0.0.0.0:{c.port}": 400,
                "humanloop-mock.example.com": 400}
    seen = {host: httpx.get(c.root + "/healthz", headers={"Host": host}, timeout=30).status_code for host in expected}
    assert seen == expected
    refused = httpx.get(c.root + "/healthz", headers={"Host": "evil.example"}, timeout=30)
    assert "--allowed-host" in refused.json()["detail"]
    assert ("Listening on 0.0.0.0: answers Host 127.0.0.1, localhost, [::1], humanloop-mock, "
            "humanloop-mock.internal, mock.ci.internal") in c.podman.logs(c.name)
    address = json.loads(c.podman("inspect", c.name).stdout)[0]["NetworkSettings"]["Networks"][c.network]["IPAddress"]
    assert address
    # A job container next to the service: its name resolves to the service's address (--add-host stands in
    # for the DNS a CI runner or compose gives; this podman has no DNS plugin).
    names = [f"--add-host={name}:{address}" for name in SERVICE_NAMES]
    probe = c.podman("run", "--rm", "--network", c.network, *names, "--entrypoint", "python3", c.image.tag, "-c",
                     PROBE, *(f"http://{name}:8000/healthz" for name in SERVICE_NAMES), f"http://{address}:8000/healthz")
    assert probe.stdout.split() == ["200", "200", "400"], probe.stdout + probe.stderr


def keys_never_logged(c: Container) -> None:
    """After every check above (and a refused key), `podman logs` holds the traffic but no key; nor does
    any process's command line."""
    assert c.chat(WRONG_KEY).status_code == 401
    assert c.request("GET", "/__admin/requests", WRONG_KEY).status_code == 401
    logs = c.podman.logs(c.name)
    assert "serving Humanloop v4" in logs
    assert '"POST /v4/chat-experiment HTTP/1.1" 200' in logs and '"POST /v4/chat-experiment HTTP/1.1" 401' in logs
    commands = " ".join(command for _, _, command in container_processes(c))
    for key in (*KEYS, WRONG_KEY):
        assert key not in logs and key not in commands


def image_defaults(c: Container) -> None:
    """With no settings at all: any key, seed 0, the demo experiment, unknown ids provisioned, the Host check
    on for the default service names."""
    logs = c.podman.logs(c.name)
    assert "serving Humanloop v4 at http://127.0.0.1:8000/v4  (seed 0)" in logs
    assert ("Listening on 0.0.0.0: answers Host 127.0.0.1, localhost, [::1], humanloop-mock, "
            "humanloop-mock.internal; others get 400") in logs
    assert c.chat("any-key", experiment_id="exp_demo").json()["project_id"] == "pr_demo"
    assert c.chat("any-key", experiment_id="exp_from_production").status_code == 200
    assert httpx.get(c.root + "/healthz", headers={"Host": "mock.ci.internal"}, timeout=30).status_code == 400


def stops_on_sigterm(c: Container) -> None:
    """SIGTERM while a stream is open: the stream gets the shutdown timeout, then the container exits 143
    (ended by that signal, as on a host), with no traceback and no forced exit."""
    assert c.request("POST", "/__admin/faults", json={"event_delay": 5, "times": None}).status_code == 201
    lines: list[str] = []
    opened = threading.Event()

    def read() -> None:
        body = {"experiment_id": "exp_demo", "messages": MESSAGES, "stream": True}
        try:
            with httpx.stream("POST", c.root + "/v4/chat-experiment", json=body, headers={"X-API-KEY": KEYS[0]},
                              timeout=60) as response:
                for line in response.iter_lines():
                    lines.append(line)
                    opened.set()
        except httpx.HTTPError:
            pass  # the server ends the stream when the shutdown timeout is up

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(20), "the stream never started"
    started = time.monotonic()
    c.podman("kill", "--signal", "TERM", c.name)
    code = c.podman("wait", c.name, timeout=30).stdout.strip()
    took = time.monotonic() - started
    reader.join(10)
    logs = c.podman.logs(c.name)
    assert code == "143", logs[-3000:]
    assert SHUTDOWN_TIMEOUT - 0.5 <= took < SHUTDOWN_TIMEOUT + 4, f"stopped after {took:.1f} s"
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in logs and "Finished server process" in logs
    assert "Traceback" not in logs and "exiting now" not in logs, logs[-3000:]
    assert not reader.is_alive() and lines and lines[0].startswith("data: ")


DOCS = ROOT / "docs" / "container.md"
TESTCONTAINERS_DRIVER = """
import httpx
mock = start_mock(IMAGE)
try:
    root = f"http://{mock.get_container_host_ip()}:{mock.get_exposed_port(8000)}"
    key = {"X-API-KEY": "tc-key"}
    script = {"match": {"message": "hello"}, "answer": {"output": "Hello from Testcontainers."}}
    print(httpx.post(root + "/__admin/scripts", headers=key, json=script).status_code)
    body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "hello"}]}
    print(httpx.post(root + "/v4/chat-experiment", headers=key, json=body).json()["data"][0]["output"])
    print(httpx.post(root + "/v4/chat-experiment", headers={"X-API-KEY": "other"}, json=body).status_code)
finally:
    mock.stop()
"""


def recipe_for_testcontainers(c: Container, work: Path) -> None:
    """docs/container.md's Testcontainers recipe, as written, through podman's Docker-compatible API (Ryuk
    off: its image is in a registry; connection mode docker_host: this machine may itself be a container)."""
    recipe = DOCS.read_text().split("## Testcontainers (Python)", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    socket_path = work / "podman.sock"
    service = subprocess.Popen(["podman", "--runtime", c.podman.runtime, "system", "service", "--time=0",
                                f"unix://{socket_path}"], env=c.podman.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            assert service.poll() is None and time.monotonic() < deadline, "podman system service did not start"
            time.sleep(0.05)
        env = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}", "TESTCONTAINERS_RYUK_DISABLED": "true",
               "TESTCONTAINERS_CONNECTION_MODE": "docker_host"}
        program = f"IMAGE = {c.image.tag!r}\n{recipe}\n{TESTCONTAINERS_DRIVER}"
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env,
                                timeout=180, cwd=work, stdin=subprocess.DEVNULL)
    finally:
        service.terminate()
        service.wait(timeout=30)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.splitlines() == ["201", "Hello from Testcontainers.", "401"]


def test_container_image(service: Container, plain: Container, config_file: Path, tmp_path: Path,
                         subtests: pytest.Subtests) -> None:
    checks: list[tuple[str, Callable[[], None]]] = [
        ("image settings and size", lambda: image_settings_and_size(service)),
        ("healthy within seconds", lambda: healthy_within_seconds(service)),
        ("not root", lambda: not_root(service)),
        ("official client", lambda: official_client(service)),
        ("same bytes as serve on the host", lambda: same_bytes_as_serve_on_the_host(service, config_file)),
        ("contract checker", lambda: contract_checker(service, tmp_path)),
        ("admin drives it", lambda: admin_drives_it(service)),
        ("config file loaded", lambda: config_file_loaded(service)),
        ("host check", lambda: host_check(service)),
        ("keys never logged", lambda: keys_never_logged(service)),  # last: the others' traffic is in the logs
        ("testcontainers recipe", lambda: recipe_for_testcontainers(service, tmp_path)),
        ("image defaults", lambda: image_defaults(plain)),
        ("stops on SIGTERM", lambda: stops_on_sigterm(plain)),  # last: it ends `plain`
    ]
    for name, check in checks:
        with subtests.test(name):
            check()
