"""The pytest entry point: options, ini settings, markers, the report header, and the fixtures.

One server per session (per xdist worker), on 127.0.0.1 and a free port; its state is reset before
each test that uses `humanloop_mock`, so tests cannot see each other's experiments or requests.
In remote mode (`--humanloop-url`), no server is started: the fixture drives a running
`humanloop-mock serve --isolate-keys` through `/__admin`, with a key of its own per xdist worker.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the mock itself loads only when a test asks for it (see the fixtures)
    from mockserver.spec.models import MockSpec
    from pytest_plugin.control_client import ControlClient
    from pytest_plugin.handle import HumanloopMock

URL_ENV = "HUMANLOOP_MOCK_URL"

HANDLE_KEY = pytest.StashKey["HumanloopMock"]()
MARKERS = {
    "humanloop_experiment": "humanloop_experiment(id=None, configs=[...], name=None, project='tests', "
                            "positive_labels=(), sampling='weighted'): add an experiment for this test",
    "humanloop_script": "humanloop_script(output=None, **answer_and_match): script an answer for this test",
    "humanloop_fault": "humanloop_fault(status=None, **effects_and_match): inject a fault for this test",
    "humanloop_spec": "humanloop_spec(spec): add a whole spec (the config-file shape) for this test",
    "humanloop_strict": "humanloop_strict(on=True): fail at teardown on unused scripts or unexpected requests "
                        "(on: True/False or 'true'/'false'/'on'/'off'/'1'/'0')",
    "humanloop_replay": "humanloop_replay(path, speed=0.0, ignore=None): answer this test's calls from a cassette "
                        "(a relative path is read beside the test's file)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("humanloop-mock")
    group.addoption("--humanloop-seed", type=int, default=None,
                    help="seed for the mock's ids, draws and text (default: ini humanloop_seed, else 0)")
    group.addoption("--humanloop-strict", action="store_true", default=None,
                    help="fail tests that leave scripts unused or make unexpected requests")
    group.addoption("--humanloop-config", default=None, help="config file loaded before every test")
    group.addoption("--humanloop-url", default=None,
                    help="drive a running `humanloop-mock serve --isolate-keys` at this base URL (ends /v4) "
                         f"instead of starting one in-process (also ini humanloop_url, env {URL_ENV})")
    parser.addini("humanloop_seed", "seed for the mock (see --humanloop-seed)", default="0")
    parser.addini("humanloop_strict", "strict mode for every test", type="bool", default=False)
    parser.addini("humanloop_config", "config file (TOML/YAML/JSON) loaded before every test", default="")
    parser.addini("humanloop_url", "base URL of a running mock for remote mode (see --humanloop-url)", default="")


# Packages of this distribution that hold no tests (see `pytest_load_initial_conftests`).
NOT_REWRITTEN = ("mockserver", "contracts")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Keep pytest's assertion rewriter off `mockserver` and `contracts`.

    pytest rewrites every package of a plugin's distribution, so a run that uses the mock would
    parse and compile those ~130 modules through the rewriter instead of importing them, and on
    every run where bytecode is not cached (PYTHONDONTWRITEBYTECODE, a read-only site-packages):
    about 0.2 s of CPU per process (docs/performance.md). They hold no tests. pytest has no public
    way to unmark a package, so this uses the rewriter's set of marked names when it is there and
    does nothing otherwise (`--assert=plain`, or a pytest that keeps it elsewhere). Runs before
    conftests are imported, so a conftest that imports the mock is covered too."""
    marked = getattr(getattr(early_config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):
        marked.difference_update(NOT_REWRITTEN)


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    seed_of(config)  # a seed that is no number, or a config file that cannot be used, stops the run here
    configured_spec(config)


def seed_of(config: pytest.Config) -> int:
    """`--humanloop-seed` (argparse made it an int), else the ini's `humanloop_seed`, a whole number."""
    option = config.getoption("--humanloop-seed")
    if option is not None:
        return int(option)
    written = str(config.getini("humanloop_seed")).strip() or "0"
    try:
        return int(written)
    except ValueError:
        raise pytest.UsageError(f"ini humanloop_seed: {written!r} is not a whole number (the mock's seed, "
                                "e.g. humanloop_seed = 0)") from None


def remote_url_of(config: pytest.Config) -> str | None:
    """The remote-mode base URL: option, then ini, then environment; None for in-process mode. A value of
    only spaces (an environment variable set to ' ') counts as not given."""
    given = config.getoption("--humanloop-url") or config.getini("humanloop_url") or os.environ.get(URL_ENV) or ""
    return given.strip() or None


def pytest_report_header(config: pytest.Config) -> str:
    url = remote_url_of(config)
    if url:
        return f"humanloop-mock: remote mode, {url} (the server's seed applies)"
    seed = seed_of(config)
    return f"humanloop-mock: seed {seed} (replay a run with --humanloop-seed {seed})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    handle = item.stash.get(HANDLE_KEY, None)
    if handle is not None and report.failed:
        report.sections.append((
            "humanloop-mock",
            f"seed {handle.seed}: replay with --humanloop-seed {handle.seed}\n{handle.summary()}",
        ))
    return report


_CONFIG_KEY = pytest.StashKey["MockSpec | None"]()


def configured_spec(config: pytest.Config) -> MockSpec | None:
    """The spec of `--humanloop-config`/ini `humanloop_config`, loaded once per process (None: neither
    given). A file that cannot be used is a `pytest.UsageError`: at `pytest_configure`, so the run stops
    with the file's problem on one line, before any test (not as an error with a traceback in each)."""
    if _CONFIG_KEY in config.stash:
        return config.stash[_CONFIG_KEY]
    # A path typed on the command line is read from where pytest was started, as the shell completed
    # it; one in the ini file from the rootdir, the ini file's folder.
    option = config.getoption("--humanloop-config")
    if option:
        path, base = option, config.invocation_params.dir
    else:
        path, base = config.getini("humanloop_config"), config.rootpath
    spec = None
    if path:
        from mockserver.spec.config_file import ConfigFileError, load_spec

        try:
            spec = load_spec(Path(base) / path)  # an absolute path stays as it is
        except ConfigFileError as error:
            raise pytest.UsageError(str(error)) from None
    config.stash[_CONFIG_KEY] = spec
    return spec


@pytest.fixture(scope="session")
def humanloop_mock_spec(pytestconfig: pytest.Config) -> MockSpec:
    """What every test starts with: `--humanloop-config`/ini `humanloop_config`, else the built-in demo.
    Override this fixture in a conftest to define session-wide experiments in code."""
    from mockserver.spec.models import default_spec

    spec = configured_spec(pytestconfig)
    return spec if spec is not None else default_spec()


@dataclass
class MockSession:
    """What a session's tests share: how to reach the control service, the base URL, the key."""

    control: ControlClient
    base_url: str
    api_key: str
    app: Any = None
    seed: int | None = None


@pytest.fixture(scope="session")
def humanloop_mock_server(pytestconfig: pytest.Config, humanloop_mock_spec: MockSpec) -> Iterator[MockSession]:
    """The session's mock: in-process (one server per session or xdist worker, 127.0.0.1, a free port),
    or, in remote mode, this worker's own tenant of a running `--isolate-keys` server."""
    from pytest_plugin.handle import DEFAULT_API_KEY

    url = remote_url_of(pytestconfig)
    if url:
        from pytest_plugin.control_client import RemoteControl

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        api_key = f"{DEFAULT_API_KEY}-{worker}-{secrets.token_hex(4)}"  # the key picks the tenant only
        remote = RemoteControl(url, api_key)
        try:
            remote.load_spec(humanloop_mock_spec, replace=True)
            yield MockSession(remote, url.rstrip("/"), api_key)
        finally:
            remote.close()
        return
    from mockserver import MockSettings, create_app
    from mockserver.control.service import MockControl
    from mockserver.http.server import BackgroundServer

    seed = seed_of(pytestconfig)
    app = create_app(MockSettings(seed=seed, spec=humanloop_mock_spec))
    with BackgroundServer(app) as server:
        control = MockControl(app.state.mock, app.state.tenants)
        yield MockSession(control, server.base_url, DEFAULT_API_KEY, app=app, seed=seed)


class HumanloopMockWarning(pytest.PytestWarning):
    """A humanloop-mock marker that cannot do anything (its test does not use the fixture)."""


STRICT_WORDS = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
_OWNER_KEY = pytest.StashKey[tuple[bool, str]]()


def marker_call(marker: pytest.Mark) -> str:
    """The marker as it was written: `@pytest.mark.humanloop_fault(500, on_call=2)`."""
    given = [repr(a) for a in marker.args] + [f"{k}={v!r}" for k, v in marker.kwargs.items()]
    return f"@pytest.mark.{marker.name}" + (f"({', '.join(given)})" if given else "")


def strict_value(marker: pytest.Mark) -> bool:
    """What `humanloop_strict` says: bare is on; `on=`/one value may be a bool or true/false/on/off/1/0."""
    from mockserver.spec.errors import did_you_mean

    written = marker_call(marker)
    unknown = [key for key in marker.kwargs if key != "on"]
    if unknown:
        raise pytest.UsageError(f"{written}: unknown keyword {unknown[0]!r}{did_you_mean(unknown[0], ['on'])}; "
                                "it takes one value, on=True or on=False")
    values = [*marker.args, *marker.kwargs.values()]
    if len(values) > 1:
        raise pytest.UsageError(f"{written}: takes one value (on=True or on=False), got {len(values)}")
    if not values:
        return True
    value = values[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in STRICT_WORDS:
        return STRICT_WORDS[value.strip().lower()]
    raise pytest.UsageError(f"{written}: cannot read {value!r} as on or off; give True or False, "
                            "or one of the strings true/false/on/off/1/0")


def _strict(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("humanloop_strict")
    if marker is not None:
        return strict_value(marker)
    option = request.config.getoption("--humanloop-strict")
    return bool(option) or bool(request.config.getini("humanloop_strict"))


def _apply_markers(handle: HumanloopMock, node: pytest.Item) -> None:
    """Apply the setup markers, outermost first; a marker the handle refuses is a usage error naming it."""
    from mockserver.spec.errors import SpecError

    def replay(path: str | os.PathLike[str], **options: Any) -> None:
        if isinstance(path, (str, os.PathLike)) and not (Path(path).is_absolute() or handle.remote):
            path = node.path.parent / path
        handle.replay(path, **options)

    replay.__qualname__ = "humanloop_replay"  # what a wrong call's TypeError names

    calls = [("humanloop_spec", None), ("humanloop_experiment", handle.add_experiment),
             ("humanloop_script", handle.script), ("humanloop_fault", handle.fault), ("humanloop_replay", replay)]
    for name, method in calls:
        for marker in reversed(list(node.iter_markers(name))):
            try:
                if method is None:
                    for spec in marker.args:
                        handle.load(spec)
                    if marker.kwargs:
                        raise TypeError(f"takes specs as positional values, not keywords {sorted(marker.kwargs)}")
                else:
                    method(*marker.args, **marker.kwargs)
            except SpecError as refused:
                raise pytest.UsageError(str(SpecError(refused.problems, f"{marker_call(marker)}: invalid arguments",
                                                      refused.note))) from None
            except TypeError as wrong:
                raise pytest.UsageError(f"{marker_call(marker)}: {wrong}\n  it takes: {MARKERS[name]}") from None


def _uses_mock(item: pytest.Item) -> bool:
    return "humanloop_mock" in getattr(item, "fixturenames", ())


def _owner_status(owner: pytest.Node, session: pytest.Session) -> tuple[bool, str]:
    """For a module or class carrying a mock marker: does any of its tests use the mock, and which
    test is its first (the one that warns, so a module warns once)."""
    if _OWNER_KEY not in owner.stash:
        under = [item for item in session.items if owner in item.listchain()]
        owner.stash[_OWNER_KEY] = (any(_uses_mock(item) for item in under), under[0].nodeid if under else "")
    return owner.stash[_OWNER_KEY]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Warn about a mock marker on a test that does not use `humanloop_mock` (it would do nothing).

    A marker on the test itself warns for that test; one on a module or class warns once, and only
    when none of its tests uses the mock (a module may mix tests with and without it)."""
    if _uses_mock(item):
        return
    seen: set[str] = set()
    for owner, marker in item.iter_markers_with_node():
        if marker.name not in MARKERS or marker.name in seen:
            continue
        seen.add(marker.name)
        if owner is item:
            where = f"{item.name} does not use the humanloop_mock fixture"
        else:
            used, first = _owner_status(owner, item.session)
            if used or first != item.nodeid:
                continue
            where = f"no test in {owner.name} uses the humanloop_mock fixture"
        item.warn(HumanloopMockWarning(f"@pytest.mark.{marker.name} does nothing here: {where}"))


@pytest.fixture
def humanloop_mock(humanloop_mock_server: MockSession, request: pytest.FixtureRequest) -> Iterator[HumanloopMock]:
    """A live mock, reset for this test: `base_url` (the SDK's `host`), `api_key`, setup and journal."""
    from pytest_plugin.handle import HumanloopMock, MockRequestError

    session = humanloop_mock_server
    handle = HumanloopMock(session.control, session.base_url, api_key=session.api_key, app=session.app,
                           seed=session.seed)
    handle.reset()
    request.node.stash[HANDLE_KEY] = handle
    misuse = None
    try:
        handle.strict = _strict(request)
        _apply_markers(handle, request.node)
    except pytest.UsageError as problem:
        misuse = str(problem)  # failed below, outside the handler: one report, not a chained pair
    if misuse is not None:
        pytest.fail(misuse, pytrace=False)
    yield handle
    if handle.strict:
        failure = None
        try:
            handle.verify()
        except MockRequestError as problems:
            failure = str(problems)  # failed below, outside the handler: one report, not a chained pair
        if failure is not None:
            pytest.fail(failure, pytrace=False)  # the report's humanloop-mock section gives seed and journal
