"""One way to say what is wrong with a spec, whichever door it came through.

Config files, `/__admin` bodies, markers and fixture calls all validate the same models
(`mockserver.spec`); a problem is reported as `<key path>: <what is wrong>`, for example
`scripts[0].match.mesage: unknown key (did you mean 'message'?)`, never as raw pydantic output.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mockserver.fixed_unicode import quoted

ModelT = TypeVar("ModelT", bound=BaseModel)
Loc = tuple[Any, ...]
_UNION_TAGS = {"str", "list", "int", "float", "dict", "bool"}


class SpecError(ValueError):
    """A spec (or one script, fault or experiment of one) cannot be used; `problems` says where and why.

    `note` is a last line of advice (what a call takes, for instance), printed like a problem."""

    def __init__(self, problems: list[str], title: str = "invalid humanloop-mock spec", note: str | None = None
                 ) -> None:
        self.problems = problems
        self.title = title
        self.note = note
        lines = [*problems, note] if note else problems
        super().__init__(f"{title}:\n  " + "\n  ".join(lines))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'message'?)` when one choice is close to `word`, else ''.

    A dotted choice (`match.call`) is compared by its last part, after the plain ones, so a key put
    one level too high is pointed to where it belongs."""
    choices = list(choices)
    for pool in ([c for c in choices if "." not in c], [c for c in choices if "." in c]):
        by_last = {choice.rsplit(".", 1)[-1]: choice for choice in pool}
        close = difflib.get_close_matches(word, list(by_last), n=1, cutoff=0.6)
        if close:
            return f" (did you mean {quoted(by_last[close[0]])}?)"
    return ""


def key_path(loc: Loc | list[Any], prefix: str = "") -> str:
    """`("scripts", 0, "match", "mesage")` as `scripts[0].match.mesage` (pydantic's union markers dropped)."""
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not ("[" in part or part in _UNION_TAGS):
            text += ("." if text else "") + part
    return text


def _leaves(annotation: Any) -> list[Any]:
    """The types an annotation may hold: `X | None`, `Annotated[X, ...]` and unions unpacked."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def keys_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the object at `loc` (inside `model`) accepts, and one level down as `match.call`;
    [] when that is not a model."""
    current: list[Any] = [model]
    for part in loc:
        leaves = [leaf for annotation in current for leaf in _leaves(annotation)]
        models = [leaf for leaf in leaves if isinstance(leaf, type) and issubclass(leaf, BaseModel)]
        if isinstance(part, int):
            current = [typing.get_args(leaf)[0] for leaf in leaves
                       if typing.get_origin(leaf) in (list, tuple) and typing.get_args(leaf)]
        elif any(m.__name__ == part for m in models):  # a union member's tag: stay on that member
            current = [m for m in models if m.__name__ == part]
        else:
            current = [m.model_fields[part].annotation for m in models if part in m.model_fields]
    return _model_keys([leaf for annotation in current for leaf in _leaves(annotation)], nested=True)


def _model_keys(leaves: list[Any], nested: bool) -> list[str]:
    """The keys of the models among `leaves`, and (`nested`) those of their model fields as `field.key`."""
    keys: list[str] = []
    for leaf in leaves:
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            for name, field in leaf.model_fields.items():
                key = field.alias or name
                keys.append(key)
                if nested:
                    keys += [f"{key}.{inner}" for inner in _model_keys(_leaves(field.annotation), nested=False)]
    return keys


def problems_of(error: ValidationError, prefix: str = "", model: type[BaseModel] | None = None,
                relocate: Callable[[Loc], Loc] | None = None) -> list[str]:
    """One line per problem: where, and what is wrong (with the value given, when it helps).

    `model` lets an unknown key suggest the accepted key it is closest to; `relocate` rewrites a
    location into the caller's words (a fixture keyword instead of the key path it fills)."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        where = key_path(relocate(loc) if relocate else loc, prefix)
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            text = "unknown key"
            if model is not None and loc and isinstance(loc[-1], str):
                text += did_you_mean(loc[-1], keys_at(model, loc[:-1]))
        elif kind == "missing":
            text = "required key missing"
        elif kind == "model_type":  # pydantic names the model class: say what the file or body needs
            text = f"expected an object (got {quoted(item.get('input'))})"
        elif kind in ("duplicate_id", "value_error", "assertion_error"):
            text = message
        else:
            text = f"{message} (got {quoted(item.get('input'))})"
        line = f"{where}: {text}" if where and not text.startswith(where) else text
        if line not in lines:
            lines.append(line)
    return lines


def validate(model: type[ModelT], data: Any, prefix: str = "", title: str | None = None,
             relocate: Callable[[Loc], Loc] | None = None) -> ModelT:
    """`model.model_validate(data)`, raising `SpecError` with key-path problems instead of pydantic's text."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        raise SpecError(problems_of(invalid, prefix, model, relocate), title or f"invalid {model.__name__}") from None
