"""The plugin as a downstream project meets it when something is off: marker values, typos, bad
arguments, markers on tests without the fixture, and what a strict failure says (issue 11).

Every test runs a small downstream test file with pytester, in-process (the remote-mode variable
is cleared so these inner sessions start their own mock whatever the outer run does).
"""

from __future__ import annotations

import pytest

from pytest_plugin.plugin import URL_ENV

pytest_plugins = ["pytester"]

CHAT = """
def chat(mock, text="hi"):
    body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": text}]}
    with mock.httpx_client() as http:
        return http.post("/chat-experiment", json=body)
"""


# This project runs its tests with warnings as errors; a downstream project, by default, does not.
# (pytest's notice that modules imported by this very process cannot be rewritten is an artefact of
# running the downstream session in-process, so it is left out of the count.)
AS_DOWNSTREAM = ("-W", "default::pytest_plugin.plugin.HumanloopMockWarning",
                 "-W", "ignore::pytest.PytestAssertRewriteWarning")


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)


# --- 1. humanloop_strict says what it shows ----------------------------------------------------


def test_strict_marker_takes_on_and_the_usual_spellings(pytester: pytest.Pytester) -> None:
    lenient = ["on=False", "False", '"false"', '"off"', '"0"', '"FALSE"', 'on="off"']
    strict = ["", "()", "on=True", "True", '"true"', '"on"', '"1"', '"On"']

    def marked(spelling: str, number: int) -> str:
        args = spelling if spelling in ("", "()") else f"({spelling})"
        return f"@pytest.mark.humanloop_strict{args}\ndef test_{number}(humanloop_mock):\n" \
               f"    humanloop_mock.fault(500)  # never used: fails in strict mode only\n"

    tests = [marked(s, n) for n, s in enumerate(lenient + strict)]
    pytester.makepyfile("import pytest\n\n" + "\n".join(tests))
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=len(lenient + strict), errors=len(strict))
    for number in range(len(lenient)):
        assert f"ERROR at teardown of test_{number} " not in result.stdout.str()


def test_strict_marker_refuses_what_it_cannot_read(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

@pytest.mark.humanloop_strict("maybe")
def test_word(humanloop_mock):
    pass

@pytest.mark.humanloop_strict(2)
def test_number(humanloop_mock):
    pass

@pytest.mark.humanloop_strict(of=False)
def test_typo(humanloop_mock):
    pass

@pytest.mark.humanloop_strict(True, False)
def test_two(humanloop_mock):
    pass
""")
    result = pytester.runpytest()
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines([
        "*ERROR at setup of test_word*",
        "*@pytest.mark.humanloop_strict('maybe'): cannot read 'maybe' as on or off*"
        "true/false/on/off/1/0*",
        "*ERROR at setup of test_number*",
        "*@pytest.mark.humanloop_strict(2): cannot read 2 as on or off*",
        "*ERROR at setup of test_typo*",
        "*@pytest.mark.humanloop_strict(of=False): unknown keyword 'of'*it takes on*",
        "*ERROR at setup of test_two*",
        "*@pytest.mark.humanloop_strict(True, False): takes one value*",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "plugin.py" not in out
    assert "During handling of the above exception" not in out  # each problem reported once


# --- 2. one strict report, rules named by what they match --------------------------------------


def test_strict_failure_is_printed_once_naming_rules_by_their_match(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + """
import pytest

@pytest.mark.humanloop_strict
def test_capital(humanloop_mock):
    humanloop_mock.script("Paris.", message="Capital")
    humanloop_mock.fault(503, name="outage", experiment_id="exp_other")
    chat(humanloop_mock, "What is the capital of France?")
""")
    result = pytester.runpytest("--humanloop-seed", "3", "-rN")  # no short summary (untruncated in CI)
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "During handling of the above exception" not in out
    assert out.count("humanloop-mock strict mode") == 1
    assert out.count("replay with --humanloop-seed 3") == 1
    assert "'script-1'" not in out
    result.stdout.fnmatch_lines([
        "*humanloop-mock strict mode:*",
        "*script-1 matching message='Capital' answered 0 of 1 time(s)*",
        "*hint: message= is case-sensitive: call #1 ('What is the capital of France?') has 'capital'; "
        "message_regex='(?i)Capital' ignores case",
        "*fault 'outage' matching experiment_id='exp_other' fired 0 of 1 time(s)*",
        "*#0 POST /v4/chat-experiment -> 200 experiment=exp_demo*(no script matched)*",
    ])


def test_journal_summary_names_the_rules_a_call_met_by_their_match(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAT + """
def test_it(humanloop_mock):
    humanloop_mock.fault(429, call=1)
    humanloop_mock.script("Scripted.", message="hi")
    chat(humanloop_mock)
    chat(humanloop_mock)
    assert False
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*#0 POST /v4/chat-experiment -> 429 *faults=[[]fault-1 matching call=1[]]*",
        "*#1 POST /v4/chat-experiment -> 200 *scripts=[[]script-1 matching message='hi'[]]*",
    ])


# --- 3. misuse is named where it happens, in the config file's words ---------------------------


@pytest.mark.parametrize(("marker", "expected"), [
    ('humanloop_experiment("exp_x", config=[{"model": "m"}])',
     ["*@pytest.mark.humanloop_experiment('exp_x', config=[[]{'model': 'm'}[]]):*",
      "*config: unknown keyword (did you mean 'configs'?)*",
      "*it takes: id, configs, name, project, project_id, positive_labels*"]),
    ('humanloop_fault(500, on_call=2)',
     ["*@pytest.mark.humanloop_fault(500, on_call=2):*", "*on_call: unknown keyword (did you mean 'call'?)*",
      "*it takes: status, times, name, *call*"]),
    ('humanloop_script("x", mesage="hi")',
     ["*@pytest.mark.humanloop_script('x', mesage='hi'):*", "*mesage: unknown keyword (did you mean 'message'?)*"]),
    ('humanloop_experiment("exp_x", configs=[{"modle": "m"}])',
     ["*@pytest.mark.humanloop_experiment(*", "*configs[[]0[]].modle: unknown key (did you mean 'model'?)*"]),
    ('humanloop_spec({"scripts": [{"answer": {"output": "x"}, "match": {"mesage": "y"}}]})',
     ["*@pytest.mark.humanloop_spec(*", "*scripts[[]0[]].match.mesage: unknown key (did you mean 'message'?)*"]),
    ('humanloop_fault(status=99)',
     ["*@pytest.mark.humanloop_fault(status=99):*", "*status: Input should be greater than or equal to 400*"]),
    ('humanloop_replay("a.har", "b.har")',  # named the plugin's inner function before
     ["*@pytest.mark.humanloop_replay('a.har', 'b.har'): humanloop_replay() takes 1 positional argument*"]),
    ('humanloop_script(answers=5)',  # was "'int' object is not iterable"
     ["*@pytest.mark.humanloop_script(answers=5): invalid arguments:*", "*answers: Input should be a valid list*"]),
])
def test_marker_typos_name_the_marker_and_what_it_takes(pytester: pytest.Pytester, marker: str,
                                                       expected: list[str]) -> None:
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\ndef test_it(humanloop_mock):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_it*", *expected])
    out = result.stdout.str()
    assert "plugin.py:" not in out  # no traceback into the plugin's own code
    assert "During handling of the above exception" not in out  # one report, not a chained pair


def test_handle_calls_with_bad_arguments_raise_at_the_call(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest

def test_errors(humanloop_mock):
    problems = {}
    calls = {
        "script_keyword": lambda: humanloop_mock.script("x", mesage="hi"),
        "script_value": lambda: humanloop_mock.script("x", call=0),
        "answers": lambda: humanloop_mock.script(answers=[{"outptu": "x"}]),
        "fault_keyword": lambda: humanloop_mock.fault(500, on_call=2),
        "fault_value": lambda: humanloop_mock.fault("500"),
        "experiment_keyword": lambda: humanloop_mock.add_experiment("e", config=[{"model": "m"}]),
        "experiment_configs": lambda: humanloop_mock.add_experiment("e", configs=[{"modle": "m"}]),
        "experiment_not_a_list": lambda: humanloop_mock.add_experiment("e", configs={"model": "m"}),
        "load": lambda: humanloop_mock.load({"projets": []}),
        "assert_called": lambda: humanloop_mock.assert_called(1, mesage="x"),
        "answers_text": lambda: humanloop_mock.script(answers="abc"),  # was three answers: 'a', 'b', 'c'
        "answers_number": lambda: humanloop_mock.script(answers=5),
        "answers_items": lambda: humanloop_mock.script(answers=[1]),
        "output_and_answers": lambda: humanloop_mock.script("x", answers=["y"]),  # output was dropped
        "remove": lambda: humanloop_mock.remove("script-1"),
        "replay_path": lambda: humanloop_mock.replay(None),
        "replay_ignore": lambda: humanloop_mock.replay("c.har", ignore="user"),  # was ['u', 's', 'e', 'r']
        "called_text": lambda: humanloop_mock.assert_called("1"),  # never equal to a count
        "sent_text": lambda: humanloop_mock.assert_sent(call="1"),
    }
    for name, call in calls.items():
        with pytest.raises((TypeError, ValueError)) as raised:
            call()
        problems[name] = (type(raised.value), str(raised.value))
    for name, (kind, text) in problems.items():
        print(f"{name}|{issubclass(kind, TypeError)}|{issubclass(kind, ValueError)}|" + text.replace("\\n", " / "))
    assert humanloop_mock.requests == []  # nothing half-applied reached the mock
""")
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*script_keyword|True|True|humanloop_mock.script(): invalid arguments: / "
        "  mesage: unknown keyword (did you mean 'message'?) / *it takes: output, answers, times, name, *",
        "script_value|False|True|humanloop_mock.script(): invalid arguments: / "
        "  call: Input should be greater than or equal to 1 (got 0)",
        "answers|False|True|*answers[[]0[]].outptu: unknown key (did you mean 'output'?)",
        "fault_keyword|True|True|*on_call: unknown keyword (did you mean 'call'?)*",
        "fault_value|False|True|*status: Input should be a valid integer (got '500')",
        "experiment_keyword|True|True|humanloop_mock.add_experiment(): invalid arguments: / "
        "  config: unknown keyword (did you mean 'configs'?)*",
        "experiment_configs|False|True|*/   configs[[]0[]].modle: unknown key (did you mean 'model'?)",
        "experiment_not_a_list|False|True|*/   configs: Input should be a valid list*",
        "load|False|True|humanloop_mock.load(): invalid arguments: / "
        "  projets: unknown key (did you mean 'projects'?)",
        "assert_called|True|True|humanloop_mock.assert_called(): *mesage: unknown keyword (did you mean 'message'?)*",
        "answers_text|False|True|*answers: Input should be a valid list (got 'abc')",
        "answers_number|False|True|*answers: Input should be a valid list (got 5)",
        "answers_items|False|True|*answers[[]0[]]: expected an object (got 1)",
        "output_and_answers|False|True|humanloop_mock.script(): *give output or answers, not both",
        "remove|False|True|humanloop_mock.remove(): * rule: expected what script() or fault() returned, got 'script-1'",
        "replay_path|False|True|humanloop_mock.replay(): *path: expected a file path (str or Path), got None",
        "replay_ignore|False|True|*ignore: Input should be a valid list (got 'user')",
        "called_text|False|True|humanloop_mock.assert_called(): *times: expected a whole number >= 0 (got '1')",
        "sent_text|False|True|humanloop_mock.assert_sent(): *call: expected a whole number >= 1 (got '1')",
    ])
    assert "Traceback" not in result.stdout.str() and "not iterable" not in result.stdout.str()
    assert "pydantic.dev" not in result.stdout.str() and "Extra inputs" not in result.stdout.str()


# --- 3b. a mock marker on a test without the mock ----------------------------------------------


def test_mock_marker_on_a_test_without_the_fixture_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lonely="""
import pytest

@pytest.mark.humanloop_fault(500)
def test_forgot_the_fixture():
    pass

@pytest.mark.humanloop_fault(500)
def test_uses_it(humanloop_mock):
    assert humanloop_mock.requests == []

@pytest.fixture
def app(humanloop_mock):
    return humanloop_mock

@pytest.mark.humanloop_script("through another fixture")
def test_uses_it_indirectly(app):
    pass
""")
    result = pytester.runpytest("-p", "no:randomly", *AS_DOWNSTREAM)
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines([
        "*test_lonely.py::test_forgot_the_fixture*",
        "*HumanloopMockWarning: @pytest.mark.humanloop_fault does nothing here: "
        "test_forgot_the_fixture does not use the humanloop_mock fixture*",
    ])
    assert "test_uses_it_indirectly does not use" not in result.stdout.str()
    failing = pytester.runpytest("-W", "error::pytest_plugin.plugin.HumanloopMockWarning", "test_lonely.py")
    failing.assert_outcomes(passed=2, errors=1)


def test_module_marker_warns_only_when_no_test_of_the_module_uses_the_mock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mixed="import pytest\npytestmark = pytest.mark.humanloop_strict\n\n"
              "def test_helper():\n    pass\n\ndef test_mock(humanloop_mock):\n    pass\n",
        test_unused="import pytest\npytestmark = pytest.mark.humanloop_experiment('exp_x')\n\n"
               "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    )
    result = pytester.runpytest("-p", "no:randomly", *AS_DOWNSTREAM)
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines([
        "*HumanloopMockWarning: @pytest.mark.humanloop_experiment does nothing here: "
        "no test in test_unused.py uses the humanloop_mock fixture*",
    ])
