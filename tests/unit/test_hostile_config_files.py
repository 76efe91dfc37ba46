"""Config files a person (or a mistake) could hand to `--config`, `check-config` or `--humanloop-config`:
each is refused with one line naming the file and the problem (exit 1), never a traceback, a hang, all
the memory there is, or anything the file asks YAML to build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mockserver.cli import main
from mockserver.spec.config_file import ConfigFileError, load_spec

BILLION_LAUGHS = "\n".join(
    ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]" for n in range(1, 10)]
    + ["projects: *l9"]) + "\n"
DEEP = 100_000


def _refused(path: Path, message: str) -> None:
    with pytest.raises(ConfigFileError) as raised:
        load_spec(path)
    assert str(raised.value).startswith(str(path)) and message in str(raised.value)
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bomb.yaml", BILLION_LAUGHS, "holds more than 1,000,000 values (YAML aliases count once per use)"),
    ("itself.yaml", "projects: &p [*p]\n", "nested more than 100 levels deep (or a YAML alias that holds itself)"),
    ("tag.yaml", "projects: !!python/object/apply:os.mkdir [built-by-yaml]\n",
     "the tag !!python/object/apply:os.mkdir asks for a Python object, which is never built here"),
    ("custom.yaml", "projects: !mine {a: 1}\n", "could not determine a constructor for the tag '!mine'"),
    ("twice.yaml", "projects: []\nprojects:\n  - name: x\n", "the key 'projects' is given twice (first on line 1)"),
    ("twice.json", '{"projects": [], "projects": [{"name": "x"}]}', "the key 'projects' is given twice in one object"),
    ("twice.toml", "[[projects]]\nname = 'a'\nname = 'b'\n", "cannot parse as TOML: Cannot overwrite a value"),
    ("intkey.yaml", "projects:\n  - name: x\n    1: 2\n", "projects[0]: the key 1 (int) is not a string; quote it"),
    ("nullkey.yaml", "~: 1\n", "the key None (NoneType) is not a string"),
    ("date.yaml", "projects:\n  - name: 2024-01-01\n", "projects[0].name: a date (2024-01-01), not a string; quote it"),
    ("date.toml", "[[projects]]\nname = 1979-05-27\n", "projects[0].name: a date (1979-05-27), not a string"),
    ("deep.json", '{"projects": ' + "[" * DEEP + "]" * DEEP + "}", "cannot parse: nested too deeply (JSON)"),
    ("deep.yaml", "projects: " + "[" * DEEP + "]" * DEEP + "\n", "cannot parse: nested too deeply (YAML)"),
    ("deep.toml", "a = " + "[" * DEEP + "]" * DEEP + "\n", "cannot parse: nested too deeply (TOML)"),
    ("surrogate.yaml", 'projects:\n  - name: "\\ud800"\n', "projects[0].name: a lone UTF-16 surrogate"),
])
def test_a_hostile_document_is_one_clear_error(tmp_path: Path, name: str, content: str, message: str) -> None:
    """Before: the bomb walked a billion values (hung), the alias that holds itself, a deep document, an int
    or null key were tracebacks (RecursionError, AttributeError), duplicate keys kept the last silently, and
    a date reached the model as a `datetime.date`."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    os.chdir(tmp_path)  # (where a python tag's os.mkdir would create its folder)
    _refused(path, message)
    assert not (tmp_path / "built-by-yaml").exists()


@pytest.mark.parametrize(("name", "data", "message"), [
    ("utf16.yaml", "projects:\n  - name: x\n".encode("utf-16"), "UTF-16 or UTF-32 text (it starts with that "
                                                                 "byte-order mark); save it as UTF-8"),
    ("nobom16.json", '{"projects": []}'.encode("utf-16-le"), "holds a NUL byte (line 1)"),
    ("latin1.yaml", "projects:\n  - name: café\n".encode("latin-1"), "not UTF-8 text (line 2, byte 23)"),
])
def test_text_that_is_not_utf8_says_so(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    _refused(path, message)


@pytest.mark.parametrize("ending", ["toml", "yaml", "json"])
def test_a_utf8_byte_order_mark_is_not_part_of_the_text(tmp_path: Path, ending: str) -> None:
    """Windows editors write one; TOML and JSON refused the file ('Invalid statement', 'Unexpected BOM')."""
    text = {"toml": "[[projects]]\nname = 'x'\n", "yaml": "projects:\n  - name: x\n",
            "json": '{"projects": [{"name": "x"}]}'}[ending]
    path = tmp_path / f"bom.{ending}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [project.name for project in load_spec(path).projects] == ["x"]


def test_what_is_not_a_regular_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """A FIFO hung (opening it waits for a writer); /dev/zero and /dev/urandom were read until memory ran
    out (MemoryError traceback); a symlink loop was an OSError traceback; a 2 GB file was read whole."""
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "random.json").symlink_to("/dev/urandom")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop.yaml")
    (tmp_path / "folder.yaml").mkdir()
    with open(tmp_path / "huge.toml", "wb") as huge:
        huge.truncate(2 << 30)  # sparse: 2 GiB long, nothing on disk
    for name, message in [("fifo.yaml", "not a regular file (a pipe, device or socket)"),
                          ("zero.yaml", "not a regular file"), ("random.json", "not a regular file"),
                          ("loop.yaml", "cannot read: Too many levels of symbolic links"),
                          ("huge.toml", "larger than 16 MiB, the most this reads")]:
        _refused(tmp_path / name, message)
    with pytest.raises(ConfigFileError, match=r"folder\.yaml: is a directory, not a file"):
        load_spec(tmp_path / "folder.yaml")  # (the CLI's click.Path says so first, exit 2)


def test_a_path_with_a_newline_or_bytes_that_are_not_utf8_is_named(tmp_path: Path) -> None:
    odd = tmp_path / "two\nlines.yaml"
    odd.write_text("projects:\n  - name: x\n")
    assert load_spec(odd).projects[0].name == "x"
    raw = os.fsencode(tmp_path) + b"/caf\xe9.yaml"
    with open(raw, "w") as handle:
        handle.write("projects: 5\n")
    result = CliRunner().invoke(main, ["check-config", os.fsdecode(raw)])
    assert result.exit_code == 1 and "caf" in result.output and "projects: Input should be a valid list" \
        in result.output and "Traceback" not in result.output


def test_regex_limits_apply_when_the_file_loads(tmp_path: Path) -> None:
    """The server's RE2 bounds hold for a config file too: a catastrophic pattern for a backtracking engine
    loads (RE2 matches it in linear time); one RE2 cannot take, or over the size limit, is refused at load."""
    def with_regex(pattern: str) -> Path:
        path = tmp_path / "re.json"
        path.write_text(json.dumps({"scripts": [{"match": {"message_regex": pattern}, "answer": {"output": "x"}}]}))
        return path

    assert load_spec(with_regex("(a+)+$")).scripts[0].match.message_regex == "(a+)+$"
    _refused(with_regex("(a)\\1"), "scripts[0].match.message_regex: invalid regular expression")
    _refused(with_regex("a" * 5000), "longer than 4096 characters")
    _refused(with_regex("((a{1000}){1000}){1000}"), "scripts[0].match.message_regex: invalid regular expression")
