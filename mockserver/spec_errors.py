"""One way to say what is wrong with a spec, whichever door it came through.

Config files, `/__admin` bodies, markers and fixture calls all validate the same models
(`mockserver.spec`); a problem is reported as `<key path>: <what is wrong>`, for example
`scripts[0].match.mesage: unknown key`, never as raw pydantic output.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class SpecError(ValueError):
    """A spec (or one script, fault or experiment of one) cannot be used; `problems` says where and why."""

    def __init__(self, problems: list[str], title: str = "invalid humanloop-mock spec") -> None:
        self.problems = problems
        self.title = title
        super().__init__(f"{title}:\n  " + "\n  ".join(problems))


def key_path(loc: tuple[Any, ...] | list[Any], prefix: str = "") -> str:
    """`("scripts", 0, "match", "mesage")` as `scripts[0].match.mesage` (pydantic's union markers dropped)."""
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not ("[" in part or part in {"str", "list", "int", "float", "dict", "bool"}):
            text += ("." if text else "") + part
    return text


def problems_of(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: where, and what is wrong (with the value given, when it helps)."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        where = key_path(item["loc"], prefix)
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            text = "unknown key"
        elif kind == "missing":
            text = "required key missing"
        elif kind in ("duplicate_id", "value_error", "assertion_error"):
            text = message
        else:
            text = f"{message} (got {item.get('input')!r})"
        line = f"{where}: {text}" if where and not text.startswith(where) else text
        if line not in lines:
            lines.append(line)
    return lines


def validate(model: type[ModelT], data: Any, prefix: str = "", title: str | None = None) -> ModelT:
    """`model.model_validate(data)`, raising `SpecError` with key-path problems instead of pydantic's text."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        raise SpecError(problems_of(invalid, prefix), title or f"invalid {model.__name__}") from None
