"""Regular expressions a client supplies (`message_regex` in scripts, faults and journal filters):
compiled once when they arrive, matched in time linear in the text.

Python's `re` backtracks: `(a+)+$` against `"a" * 27 + "b"` takes seconds, in C, holding the event loop
and every other tenant (and ignoring SIGTERM) meanwhile. RE2 (Google's engine, `google-re2`) never
backtracks: any pattern it accepts matches in time linear in the text, with memory bounded by
`MAX_PROGRAM_BYTES`. Its syntax is Python's for everything but what cannot be matched in linear time:
no backreferences (`\\1`, `(?P=name)`), no lookaround (`(?=...)`, `(?<=...)`), no possessive or
atomic groups, repetition counts up to 1,000; `\\d`, `\\w`, `\\s` and `\\b` are ASCII-only (use
`\\p{L}`, `\\p{N}` for Unicode classes). See docs/admin.md.

A pattern that cannot be compiled is a `ValueError` saying why, so pydantic turns it into a 422 naming
the field (`match.message_regex: invalid regular expression: missing ]: [`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Annotated, Any

import re2
from pydantic import AfterValidator

MAX_PATTERN_CHARS = 4096  # a longer pattern is refused (compiling one takes about 1 ms per 4,000 characters)
MAX_PROGRAM_BYTES = 8 << 20  # RE2's memory for one compiled pattern (its default); larger ones are refused
MAX_REPEAT = 1000  # RE2's own limit on `{n}`; a count it cannot even read is refused here, not read as text


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print the client's pattern to stderr, raw
    options.max_mem = MAX_PROGRAM_BYTES
    options.case_sensitive = case_sensitive
    return options


_EXACT = _options(True)
_ANY_CASE = _options(False)


def _oversized_repeat(pattern: str) -> str | None:
    """`{n}` or `{n,m}` with a count over `MAX_REPEAT`, outside a class and not escaped, or None.

    RE2 reads a count too large for an integer as plain text (`a{99999999999}` would match those
    characters); Python's `re` refuses it, and so do we, rather than let it mean something else."""
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("]", index + 1) or pattern.startswith("^]", index + 1):
                index += 1 + pattern.startswith("^", index + 1)  # a leading ] is a member
        elif char == "{":
            end = pattern.find("}", index, index + 48)  # (a count is a few digits: never a long scan)
            counts = pattern[index + 1:end].split(",") if end > 0 else []
            readable = 0 < len(counts) <= 2 and counts[0].isdigit() and all(c == "" or c.isdigit() for c in counts)
            if readable and any(c and int(c) > MAX_REPEAT for c in counts):
                return pattern[index:end + 1]
        index += 1
    return None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, case_sensitive: bool) -> Any:
    return re2.compile(pattern, _EXACT if case_sensitive else _ANY_CASE)


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Any:
    """The compiled pattern (cached: one compilation per distinct pattern); `ValueError` if invalid."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"invalid regular expression: longer than {MAX_PATTERN_CHARS} characters")
    repeat = _oversized_repeat(pattern)
    if repeat is not None:
        raise ValueError(f"invalid regular expression: repetition {repeat[:40]} is over {MAX_REPEAT}")
    try:
        return _compiled(pattern, not ignore_case)
    except re2.error as bad:
        reason = bad.args[0] if bad.args else "cannot be compiled"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression: {str(reason)[:200]}") from None


# Verdicts found ahead for one request's text (`match_ahead`): (the text, pattern -> whether it matched).
_FOUND_AHEAD: ContextVar[tuple[str, dict[str, bool]] | None] = ContextVar("humanloop_mock_found_ahead", default=None)


def search(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether `pattern` matches anywhere in `text` (linear time; the pattern was checked on arrival)."""
    ahead = _FOUND_AHEAD.get()
    if ahead is not None and not ignore_case and ahead[0] == text:
        found = ahead[1].get(pattern)
        if found is not None:
            return found
    return compile_pattern(pattern, ignore_case=ignore_case).search(text) is not None


async def match_ahead(patterns: Iterable[str], text: str) -> None:
    """Match each pattern against a long text in a worker thread (RE2 lets go of the interpreter while
    it matches, so the event loop goes on meanwhile), and let `search` in this task use the verdicts.
    Linear time is still time: eight megabytes take tens of milliseconds per pattern."""
    wanted = list(dict.fromkeys(patterns))
    if wanted:
        verdicts = await asyncio.to_thread(lambda: {p: compile_pattern(p).search(text) is not None for p in wanted})
        _FOUND_AHEAD.set((text, verdicts))


def escape(text: str) -> str:
    """`text` as a pattern that matches exactly it."""
    return str(re2.escape(text))


def _checked(pattern: str) -> str:
    compile_pattern(pattern)
    return pattern


# A `message_regex` field: refused with a 422 naming it when it cannot be compiled.
Pattern = Annotated[str, AfterValidator(_checked)]
