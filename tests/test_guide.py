"""Every test in docs/testing-guide.md runs, as a newcomer would paste it, and passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "testing-guide.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def guide_tests() -> list[str]:
    return [block for block in BLOCK.findall(GUIDE.read_text()) if "def test_" in block]


def test_the_guide_has_the_tests_a_newcomer_needs() -> None:
    text = "\n".join(guide_tests())
    for needed in ("humanloop_mock.script(", "humanloop_mock.fault(429", "chat_experiment_stream(",
                   "num_samples=2", "assert_sent(", "assert_called(", "client.feedback(", "experiment_stats(",
                   '"timing":'):
        assert needed in text, needed


@pytest.mark.parametrize("number", range(len(guide_tests())))
def test_guide_example_passes(pytester: pytest.Pytester, number: int) -> None:
    pytester.makepyfile(guide_tests()[number])
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
