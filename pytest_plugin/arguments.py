"""Arguments of the handle's setup calls, checked where they are given, in the config file's words.

A keyword the call does not take is an `ArgumentError` (a `TypeError`, as Python says for any call,
and a `SpecError`, so it reads like a config-file problem) that suggests the closest keyword and
lists the accepted ones; a bad value is a `SpecError` (a `ValueError`) naming the keyword.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from mockserver.spec.errors import Loc, SpecError, did_you_mean

CallableT = TypeVar("CallableT", bound=Callable[..., Any])


class ArgumentError(SpecError, TypeError):
    """A handle call or marker got a keyword it does not take."""


def call_title(call: str) -> str:
    return f"humanloop_mock.{call}(): invalid arguments"


def check_keywords(call: str, given: Iterable[str], accepted: Sequence[str]) -> None:
    """Raise `ArgumentError` for every keyword in `given` that is not in `accepted`."""
    unknown = [name for name in given if name not in accepted]
    if unknown:
        problems = [f"{name}: unknown keyword{did_you_mean(name, accepted)}" for name in unknown]
        raise ArgumentError(problems, call_title(call), note="it takes: " + ", ".join(accepted))


def takes_keywords(*extra: str) -> Callable[[CallableT], CallableT]:
    """Check a method's keywords against its signature (plus `extra`) before Python does, so a typo
    gets a suggestion and the list of what the call takes."""

    def decorate(method: CallableT) -> CallableT:
        parameters = inspect.signature(method).parameters.values()
        named = [p.name for p in parameters if p.name != "self"
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)]
        accepted = tuple(dict.fromkeys([*named, *extra]))

        @functools.wraps(method)
        def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            check_keywords(method.__name__, kwargs, accepted)
            return method(self, *args, **kwargs)

        checked.accepted_keywords = accepted  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def drop_leading(*keys: str) -> Callable[[Loc], Loc]:
    """A relocation for `validate`: `("match", "call")` -> `("call",)` when the caller gave `call=`."""

    def relocate(loc: Loc) -> Loc:
        return loc[1:] if loc and loc[0] in keys else loc

    return relocate


def experiment_keywords(loc: Loc) -> Loc:
    """Locations in the one-experiment spec `add_experiment` builds, as its keywords."""
    if loc[:4] == ("projects", 0, "experiments", 0):
        return loc[4:]
    if loc[:2] == ("projects", 0):
        return {"name": ("project",), "id": ("project_id",)}.get(loc[2], loc[2:]) if len(loc) > 2 else loc
    return loc
