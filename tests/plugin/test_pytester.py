"""The plugin from the outside, with pytester: header, reports, strict mode, markers, ini, xdist."""

from __future__ import annotations

import json
import os

import pytest

from pytest_plugin.plugin import URL_ENV

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """These inner sessions start their own mock, whatever mode the outer run is in."""
    monkeypatch.delenv(URL_ENV, raising=False)

CHAT = """
def chat(mock, **extra):
    body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "hi"}], **extra}
    with mock.httpx_client() as http:
        return http.post("/chat-experiment", json=body)
"""


def test_registered_by_entry_point_and_seed_in_header(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(humanloop_mock):\n    assert humanloop_mock.seed == 31\n")
    result = pytester.runpytest("--humanloop-seed", "31")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["humanloop-mock: seed 31 (replay a run with --humanloop-seed 31)"])


def test_failure_report_shows_seed_and_journal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + "def test_it(humanloop_mock):\n    chat(humanloop_mock)\n    assert False\n")
    result = pytester.runpytest("--humanloop-seed", "5")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- humanloop-mock -*",
        "seed 5: replay with --humanloop-seed 5",
        "*#0 POST /v4/chat-experiment -> 200 experiment=exp_demo*",
    ])


def test_no_section_for_tests_without_the_mock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert False\n\n"
                        "def test_mocked(humanloop_mock):\n    assert False\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert out.count("replay with --humanloop-seed") == 1  # the mocked test's section, not the plain one's
    assert out.index("_ test_plain _") < out.index("_ test_mocked _") < out.index("- humanloop-mock -")


def test_same_seed_same_answers_other_seed_different(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = pytester.path / "outputs.txt"
    monkeypatch.setenv("HUMANLOOP_TEST_OUT", str(out))
    pytester.makepyfile(CHAT + (
        "import json, os, pathlib\n"
        "def test_it(humanloop_mock):\n"
        "    text = chat(humanloop_mock).json()['data'][0]['output']\n"
        "    path = pathlib.Path(os.environ['HUMANLOOP_TEST_OUT'])\n"
        "    path.write_text((path.read_text() if path.exists() else '') + json.dumps(text) + '\\n')\n"
    ))
    for seed in ("1", "1", "2"):
        pytester.runpytest("--humanloop-seed", seed).assert_outcomes(passed=1)
    outputs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(outputs) == 3 and outputs[0] == outputs[1] != outputs[2]


def test_declared_ids_stay_whatever_the_seed_while_log_ids_follow_it(pytester: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/behaviour.md: a declared config's id comes from its content, so a test can name it under any seed."""
    out = pytester.path / "ids.txt"
    monkeypatch.setenv("HUMANLOOP_TEST_OUT", str(out))
    pytester.makepyfile(CHAT + (
        "import json, os, pathlib, pytest\n"
        "@pytest.mark.humanloop_experiment('exp_ids', configs=[{'model': 'gpt-4o', 'temperature': 0.3}])\n"
        "def test_it(humanloop_mock):\n"
        "    data = chat(humanloop_mock, experiment_id='exp_ids').json()['data'][0]\n"
        "    path = pathlib.Path(os.environ['HUMANLOOP_TEST_OUT'])\n"
        "    line = json.dumps([data['model_config_id'], data['id']])\n"
        "    path.write_text((path.read_text() if path.exists() else '') + line + '\\n')\n"
    ))
    for seed in ("1", "2"):
        pytester.runpytest("--humanloop-seed", seed).assert_outcomes(passed=1)
    (config_1, log_1), (config_2, log_2) = [json.loads(line) for line in out.read_text().splitlines()]
    assert config_1 == config_2 and config_1.startswith("config_")
    assert log_1 != log_2


def test_state_is_reset_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + """
def test_a(humanloop_mock):
    humanloop_mock.add_experiment("exp_iso", project_id="pr_iso", configs=[{"model": "only-a"}])
    humanloop_mock.script("scripted")
    assert chat(humanloop_mock).json()["data"][0]["output"] == "scripted"

def test_b(humanloop_mock):
    assert humanloop_mock.requests == []
    with humanloop_mock.httpx_client() as http:
        assert http.get("/projects/pr_iso/experiments").status_code == 404
    assert chat(humanloop_mock).json()["data"][0]["output"] != "scripted"
""")
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_strict_mode_fails_on_unused_script(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + """
import pytest

@pytest.mark.humanloop_strict
def test_unused(humanloop_mock):
    humanloop_mock.script("never", message="nobody asks this")

@pytest.mark.humanloop_strict
def test_used(humanloop_mock):
    humanloop_mock.script("yes")
    assert chat(humanloop_mock).json()["data"][0]["output"] == "yes"
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([
        "*humanloop-mock strict mode:*",
        "*script-1 matching message='nobody asks this' answered 0 of 1 time(s)*",
    ])


def test_strict_mode_fails_on_unexpected_requests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + """
def test_wrong_path(humanloop_mock):
    with humanloop_mock.httpx_client() as http:
        http.get("/no-such-route")

def test_unscripted_call(humanloop_mock):
    humanloop_mock.script("first", times=1)
    chat(humanloop_mock)
    chat(humanloop_mock)

def test_injected_errors_are_expected(humanloop_mock):
    humanloop_mock.fault(429)
    assert chat(humanloop_mock).status_code == 429
""")
    result = pytester.runpytest("--humanloop-strict")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*GET /v4/no-such-route -> 404*", "*(no script matched)*"])


def test_strict_from_ini_and_marker_can_turn_it_off(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhumanloop_strict = true\n")
    pytester.makepyfile("""
import pytest

def test_strict(humanloop_mock):
    humanloop_mock.fault(500)

@pytest.mark.humanloop_strict(False)
def test_lenient(humanloop_mock):
    humanloop_mock.fault(500)
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*fault-1 matching every call fired 0 of 1 time(s)*"])


def test_markers_declare_experiments_scripts_faults_and_specs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + """
import pytest

@pytest.mark.humanloop_experiment("exp_m", configs=[{"id": "config_m", "model": "m", "weight": 2}])
@pytest.mark.humanloop_script("from a marker", experiment_id="exp_m")
@pytest.mark.humanloop_fault(503, call=1)
@pytest.mark.humanloop_spec({"scripts": [{"answer": {"output": "from a spec"}, "match": {"message": "spec"}}]})
def test_markers(humanloop_mock):
    assert chat(humanloop_mock, experiment_id="exp_m").status_code == 503
    reply = chat(humanloop_mock, experiment_id="exp_m").json()["data"][0]
    assert reply["output"] == "from a marker" and reply["model_config_id"] == "config_m"
    spec = chat(humanloop_mock, messages=[{"role": "user", "content": "spec please"}]).json()
    assert spec["data"][0]["output"] == "from a spec"
""")
    pytester.runpytest().assert_outcomes(passed=1)


def test_session_spec_from_ini_config_file_and_from_fixture(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", mockspec="""
[[projects]]
name = "p"
[[projects.experiments]]
name = "e"
id = "exp_file"
[[projects.experiments.configs]]
id = "config_file"
""")
    pytester.makeini("[pytest]\nhumanloop_config = mockspec.toml\nhumanloop_seed = 8\n")
    pytester.makepyfile(CHAT + """
def test_file(humanloop_mock):
    assert humanloop_mock.seed == 8
    assert chat(humanloop_mock, experiment_id="exp_file").json()["data"][0]["model_config_id"] == "config_file"
""")
    pytester.runpytest().assert_outcomes(passed=1)

    pytester.makeconftest("""
import pytest
from mockserver.spec.models import MockSpec

@pytest.fixture(scope="session")
def humanloop_mock_spec():
    return MockSpec.model_validate({"projects": [{"name": "q", "experiments": [
        {"id": "exp_code", "name": "c", "configs": [{"id": "config_code"}]}]}]})
""")
    pytester.makepyfile(test_file=CHAT + """
def test_code(humanloop_mock):
    assert chat(humanloop_mock, experiment_id="exp_code").json()["data"][0]["model_config_id"] == "config_code"
""")
    pytester.runpytest("test_file.py").assert_outcomes(passed=1)


def test_command_line_config_path_is_read_from_where_pytest_started(pytester: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`--humanloop-config FILE` is a path as the shell gave it: relative to the current folder, not the rootdir
    (run from tests/, `--humanloop-config spec.toml` once looked for ROOTDIR/spec.toml)."""
    pytester.makeini("[pytest]\n")
    sub = pytester.mkdir("tests")
    (sub / "spec.toml").write_text('[[projects]]\nname = "p"\n[[projects.experiments]]\nname = "e"\n'
                                   'id = "exp_here"\n[[projects.experiments.configs]]\nid = "config_here"\n')
    (sub / "test_here.py").write_text(CHAT + """
def test_here(humanloop_mock):
    assert chat(humanloop_mock, experiment_id="exp_here").json()["data"][0]["model_config_id"] == "config_here"
""")
    monkeypatch.chdir(sub)
    pytester.runpytest("--humanloop-config", "spec.toml", "test_here.py").assert_outcomes(passed=1)
    absolute = str(sub / "spec.toml")
    monkeypatch.chdir(pytester.path)
    pytester.runpytest("--humanloop-config", absolute, "tests/test_here.py").assert_outcomes(passed=1)


def test_bad_config_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", bad="[[projects]]\nnam = 'x'\n")
    pytester.makepyfile("def test_it(humanloop_mock):\n    pass\n")
    result = pytester.runpytest("--humanloop-config", "bad.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # at configure: before any test, once, no traceback
    result.stderr.fnmatch_lines(["ERROR: *bad.toml: invalid humanloop-mock config:",
                                 "*projects[[]0[]].nam: unknown key*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str() and "test_it" not in result.stdout.str()


@pytest.mark.parametrize(("ini", "args", "message"), [
    ("humanloop_seed = abc\n", (), "ERROR: ini humanloop_seed: 'abc' is not a whole number*"),
    ("humanloop_config = fifo.yaml\n", (), "ERROR: *fifo.yaml: not a regular file (a pipe, device or socket)*"),
    ("", ("--humanloop-config", "deep.json"), "ERROR: *deep.json: cannot parse: nested too deeply (JSON)"),
    ("", ("--humanloop-config", "."), "ERROR: *: unknown config format ''*"),
])
def test_unusable_options_stop_the_run_before_any_test(pytester: pytest.Pytester, ini: str, args: tuple[str, ...],
                                                       message: str) -> None:
    """An ini seed that is no number was a ValueError traceback in every test; a FIFO as the config file hung
    the run, and a deeply nested one (or a directory) was a RecursionError (IsADirectoryError) in every test."""
    os.mkfifo(pytester.path / "fifo.yaml")
    (pytester.path / "deep.json").write_text('{"projects": ' + "[" * 100_000 + "]" * 100_000 + "}")
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile("def test_it(humanloop_mock):\n    pass\n")
    result = pytester.runpytest_subprocess(*args, timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_remote_url_of_only_spaces_is_not_given(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """HUMANLOOP_MOCK_URL=' ' (a variable emptied by a template) meant remote mode at ' ': every test errored."""
    monkeypatch.setenv("HUMANLOOP_MOCK_URL", " ")
    pytester.makepyfile("def test_it(humanloop_mock):\n    assert humanloop_mock.seed == 0\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_xdist_workers_are_isolated(pytester: pytest.Pytester) -> None:
    tests = "\n".join(f"""
def test_{n}(humanloop_mock):
    humanloop_mock.add_experiment("exp_same", configs=[{{"id": "config_{n}", "model": "m{n}"}}])
    humanloop_mock.script("answer {n}", times=None)
    for _ in range(3):
        reply = chat(humanloop_mock, experiment_id="exp_same").json()["data"][0]
        assert reply["output"] == "answer {n}" and reply["model_config_id"] == "config_{n}"
    assert len(humanloop_mock.requests) == 3
""" for n in range(8))
    pytester.makepyfile(CHAT + tests)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*2 workers*"])
