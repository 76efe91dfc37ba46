"""Every test in docs/testing-guide.md runs, as a newcomer would paste it, and passes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "testing-guide.md"
CHECKOUT = ("pyproject.toml", "README.md", "contracts", "mockserver", "pytest_plugin")
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


HEADING = re.compile(r"^## (.+)$", re.MULTILINE)
GUIDE_LINK = re.compile(r"testing-guide\.md#([\w-]+)")
OWN_LINK = re.compile(r"\]\(#([\w-]+)\)")


def guide_tests() -> list[str]:
    return [block for block in BLOCK.findall(GUIDE.read_text()) if "def test_" in block]


def test_the_guide_has_the_tests_a_newcomer_needs() -> None:
    text = "\n".join(guide_tests())
    for needed in ("humanloop_mock.script(", "humanloop_mock.fault(429", "chat_experiment_stream(",
                   "num_samples=2", "assert_sent(", "assert_called(", "client.feedback(", "experiment_stats(",
                   '"timing":', "ApiStreamingException", "response_headers["):
        assert needed in text, needed


def anchor(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's) gives a heading: lower case, punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_the_guides_sections_are_numbered_once_each_in_order_and_links_find_them() -> None:
    headings = HEADING.findall(GUIDE.read_text())
    numbered = [int(h.split(".", 1)[0]) for h in headings if re.match(r"\d+\. ", h)]
    assert numbered == list(range(1, len(numbered) + 1)), numbered
    assert len(numbered) >= 16
    anchors = {anchor(h) for h in headings}
    links = OWN_LINK.findall(GUIDE.read_text())
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        links += GUIDE_LINK.findall(doc.read_text())
    assert links and set(links) <= anchors, set(links) - anchors


@pytest.mark.parametrize("number", range(len(guide_tests())))
def test_guide_example_passes(pytester: pytest.Pytester, number: int) -> None:
    pytester.makepyfile(guide_tests()[number])
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def install_commands() -> list[str]:
    """The `pip install` lines of the guide's install section."""
    section = GUIDE.read_text().split("## 1. Install", 1)[1].split("\n## ", 1)[0]
    return [line.split("  #")[0].strip() for line in section.splitlines() if line.startswith("pip install ")]


def test_the_guide_installs_from_a_path_or_a_vcs_url_not_the_package_index() -> None:
    commands = install_commands()
    assert commands, "the guide has no install line"
    assert all(shlex.split(c)[2:3] != ["humanloop-mock"] for c in commands)  # not on PyPI yet
    assert any(shlex.split(c)[2].startswith("/path/to/") for c in commands)
    assert any(shlex.split(c)[2].startswith("humanloop-mock @ git+https://") for c in commands)


def test_the_guides_path_install_ships_a_working_plugin(tmp_path: Path) -> None:
    """The guide's path form on a copy of a checkout (nothing built in it), installed into a folder of
    its own (dependencies come from this environment); then a downstream test run uses that copy."""
    source = tmp_path / "humanloop-mock"
    source.mkdir()
    for name in CHECKOUT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    line = next(c for c in install_commands() if shlex.split(c)[2].startswith("/path/to/"))
    target = tmp_path / "site"
    arguments = [str(source) if a.startswith("/path/to/") else a for a in shlex.split(line)[2:] if "==" not in a]
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                                *arguments], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    entry_points = next(target.glob("humanloop_mock-*.dist-info")) / "entry_points.txt"
    assert "humanloop_mock = pytest_plugin.plugin" in entry_points.read_text()
    assert (target / "mockserver" / "control" / "page.html").is_file()  # package data travels too

    project = tmp_path / "downstream"
    project.mkdir()
    (project / "test_app.py").write_text(guide_tests()[0] + f"""

def test_the_installed_copy_is_the_one_in_use(humanloop_mock):
    import pytest_plugin
    assert pytest_plugin.__file__.startswith({str(target)!r})


def test_the_mock_is_imported_as_it_is_not_through_the_assertion_rewriter(humanloop_mock):
    import sys
    loaders = {{name: type(module.__spec__.loader).__name__ for name, module in sys.modules.items()
               if name.split(".")[0] in ("mockserver", "contracts", "pytest_plugin")}}
    assert loaders["mockserver.app"] != "AssertionRewritingHook"
    assert loaders["contracts.chat"] != "AssertionRewritingHook"
    assert loaders["pytest_plugin.plugin"] == "AssertionRewritingHook"  # the plugin module itself stays rewritten
""")
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("HUMANLOOP_MOCK_URL", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
