"""Regular expressions a client supplies (`message_regex` in scripts, faults and journal filters):
compiled when they arrive, matched with a bound on the work each request may ask for.

Python's `re` backtracks: `(a+)+$` against `"a" * 27 + "b"` takes seconds, in C, holding the event loop
and every other tenant (and ignoring SIGTERM) meanwhile. RE2 (Google's engine, `google-re2`) never
backtracks: it matches in time linear in the text. Linear is not cheap, though: the constant grows
with the pattern. RE2 runs a DFA when it can (about a nanosecond per byte); a pattern whose DFA would
be too large (`[ab]*a[ab]{20}`) falls back to simulating the program, which costs up to about 10 ns
per instruction per byte here. So the work of one match is counted in *steps*, `(program size +
STEP_FLOOR) * text bytes` (an upper bound: the measured worst is about 12 ns per step,
benchmarks/regex_steps.py), and bounded:

- a request's matches that take at most `INLINE_STEPS` in all (a short message and a few small
  patterns: the usual chat call) run on the event loop, about a millisecond at worst;
- longer ones run in a thread (RE2 lets the interpreter go while it matches), one at a time across
  the server with tenants in rotation (`heavy.Turns.in_thread`), so the event loop goes on answering;
- a request whose matches would take more than `MAX_REQUEST_STEPS` in all is refused (`TooCostly`,
  a 413) before any of them runs.

Memory is bounded too: each compiled pattern may use at most `MAX_MEMORY` (program and DFA caches
together; a larger program is refused as too large), and only the `CACHED` most recently used
patterns are kept compiled (a pattern evicted is compiled again when next used).

Syntax: Python's, but for what cannot be matched in linear time (no backreferences, no lookaround, no
possessive or atomic groups), repetition counts up to 1,000, `\\d`, `\\w`, `\\s`, `\\b` ASCII-only (use
`\\p{L}`, `\\p{N}`), and groups never capture (only whether it matches is asked). See docs/admin.md.

A pattern that cannot be compiled is a `ValueError` saying why, so pydantic turns it into a 422 naming
the field (`match.message_regex: invalid regular expression: missing ]: [`).
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Iterable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any

import re2
from pydantic import AfterValidator

from mockserver.errors import DomainError

if TYPE_CHECKING:
    from mockserver.world.heavy import Turns

MAX_PATTERN_CHARS = 4096  # a longer pattern is refused (compiling one takes about 1 ms per 4,000 characters)
MAX_MEMORY = 512 << 10  # RE2's memory for one compiled pattern: its program and DFA caches (more: fragmentation)
CACHED = 16  # compiled patterns kept at once (so at most CACHED * MAX_MEMORY: 8 MiB)
MAX_REPEAT = 1000  # RE2's own limit on `{n}`; a count it cannot even read is refused here, not read as text
STEP_FLOOR = 32  # added to the program size: a tiny program still costs a few instructions per byte
INLINE_STEPS = 100_000  # a request's matching up to this runs on the event loop (about 1 ms at worst)
MAX_REQUEST_STEPS = 500_000_000  # a request asking for more is refused with 413 (about 6 s at worst, in a thread)


class TooCostly(DomainError):
    """The matching a request asks for would take more than `MAX_REQUEST_STEPS`: a 413 whose detail says so."""

    status = 413

    def __init__(self, steps: int, what: str) -> None:
        super().__init__(f"Matching message_regex against {what} would take about {steps:,} steps (pattern program "
                         f"size + {STEP_FLOOR}, times text bytes), over this server's limit of "
                         f"{MAX_REQUEST_STEPS:,}: use a shorter text or a simpler pattern.")


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print the client's pattern to stderr, raw
    options.max_mem = MAX_MEMORY
    options.never_capture = True  # only whether it matches is asked: no capture bookkeeping to pay for
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


@functools.lru_cache(maxsize=CACHED)
def _compiled(pattern: str, case_sensitive: bool) -> Any:
    compiled = re2.compile(pattern, _EXACT if case_sensitive else _ANY_CASE)
    re2.purge()  # `re2.compile` keeps the last 128 patterns it compiled: only these `CACHED` stay
    return compiled


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Any:
    """The compiled pattern (from a small cache of the most recently used); `ValueError` if invalid."""
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
        if "too large" in str(reason):
            reason = f"pattern too large (its program would need more than {MAX_MEMORY >> 10} KiB)"
        raise ValueError(f"invalid regular expression: {str(reason)[:200]}") from None


def text_bytes(text: str) -> int:
    """The length of `text` in UTF-8, what RE2 walks."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def steps(pattern: str, text: str, *, ignore_case: bool = False) -> int:
    """The most work matching `pattern` against `text` can take, in steps (see the module doc)."""
    return (compile_pattern(pattern, ignore_case=ignore_case).programsize + STEP_FLOOR) * text_bytes(text)


# Verdicts found ahead for one request's text (`match_ahead`): (the text, pattern -> whether it matched).
_FOUND_AHEAD: ContextVar[tuple[str, dict[str, bool]] | None] = ContextVar("humanloop_mock_found_ahead", default=None)


def search(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether `pattern` matches anywhere in `text`, on the calling thread (a verdict `match_ahead`
    found for this text is used instead)."""
    ahead = _FOUND_AHEAD.get()
    if ahead is not None and not ignore_case and ahead[0] == text:
        found = ahead[1].get(pattern)
        if found is not None:
            return found
    return compile_pattern(pattern, ignore_case=ignore_case).search(text) is not None


def _search_all(patterns: Sequence[str], text: str) -> dict[str, bool]:
    return {pattern: search(pattern, text) for pattern in patterns}


async def match_ahead(turns: Turns, tenant: object, patterns: Iterable[str], text: str) -> None:
    """Before a chat call's rules are tried: if matching its patterns against `text` could take more
    than `INLINE_STEPS`, match them now in a thread (`search` in this task then uses the verdicts);
    `TooCostly` past `MAX_REQUEST_STEPS`. The usual call (small patterns, a short message) does nothing here."""
    wanted = list(dict.fromkeys(patterns))
    if not wanted:
        return
    size = text_bytes(text)
    total = sum((compile_pattern(pattern).programsize + STEP_FLOOR) * size for pattern in wanted)
    if total <= INLINE_STEPS:
        return
    if total > MAX_REQUEST_STEPS:
        raise TooCostly(total, f"a message of {size:,} bytes ({len(wanted)} patterns)")
    _FOUND_AHEAD.set((text, await turns.in_thread(tenant, _search_all, wanted, text)))


def search_each(pattern: str, texts: Sequence[str]) -> Generator[Any, Any, list[bool]]:
    """Whether `pattern` matches each of `texts` (a journal filter), as steps for `Turns.steps`: `TooCostly`
    if that could take more than `MAX_REQUEST_STEPS` in all (before any match runs); each cheap text is
    matched in a step on the event loop, each costly one is yielded as work for a thread."""
    per_byte = compile_pattern(pattern).programsize + STEP_FLOOR
    costs = [per_byte * text_bytes(text) for text in texts]
    total = sum(costs)
    if total > MAX_REQUEST_STEPS:
        raise TooCostly(total, f"{len(texts):,} journaled messages")
    verdicts = []
    for text, cost in zip(texts, costs, strict=True):
        if cost > INLINE_STEPS:
            verdicts.append(bool((yield functools.partial(search, pattern, text))))
        else:
            verdicts.append(search(pattern, text))
            yield
    return verdicts


def escape(text: str) -> str:
    """`text` as a pattern that matches exactly it."""
    return str(re2.escape(text))


def _checked(pattern: str) -> str:
    compile_pattern(pattern)
    return pattern


# A `message_regex` field: refused with a 422 naming it when it cannot be compiled.
Pattern = Annotated[str, AfterValidator(_checked)]
