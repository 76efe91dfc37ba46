"""The shape the code keeps (issue 18): few modules at the top of `mockserver/`, no class over 250 lines,
one request path with no hand-written error translation in the routes, and the state's locking rule."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE_PARTS = ("store", "experiments", "provisioning", "feedback_stats", "summaries", "state")


def _sources(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_few_modules_sit_directly_in_mockserver() -> None:
    top = sorted(path.name for path in (ROOT / "mockserver").glob("*.py"))
    assert len(top) <= 10, top


def test_no_class_is_over_250_lines() -> None:
    long = []
    for path in _sources("mockserver", "pytest_plugin", "contracts"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 250:  # type: ignore[operator]
                long.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long == []


def test_routes_raise_and_never_translate_errors_or_read_headers_themselves() -> None:
    for path in _sources("mockserver/routes"):
        text = path.read_text()
        assert "404" not in text and "except NotFound" not in text, path
        assert "x-api-key" not in text.lower() and "receive(" not in text, path


def test_the_app_is_plain_asgi() -> None:
    for path in _sources("mockserver"):
        text = path.read_text()
        assert "starlette.applications" not in text and "starlette.middleware" not in text, path


def _takes_lock(function: ast.FunctionDef) -> bool:
    return any(isinstance(node, ast.With) and "self._lock" in ast.unparse(node.items[0].context_expr)
               for node in ast.walk(function))


def test_public_state_methods_take_the_lock_and_private_ones_never_do() -> None:
    checked = 0
    for part in STATE_PARTS:
        tree = ast.parse((ROOT / "mockserver" / "world" / f"{part}.py").read_text())
        for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
            for function in (node for node in cls.body if isinstance(node, ast.FunctionDef)):
                if function.name.startswith("__"):
                    continue
                checked += 1
                assert _takes_lock(function) == (not function.name.startswith("_")), f"{part}.{function.name}"
    assert checked > 30
