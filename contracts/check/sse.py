"""Read a `text/event-stream` body the way the official clients need it, and say where it is not.

The clients parse exactly `data: <one-line JSON>` followed by a blank line per event (`\\n` or, as
both clients also read it, `\\r\\n` line ends), with comment lines and `id:`, `retry:` and `event:`
fields, which both skip, allowed before it or as blocks of their own; anything else (`data:{` without
the space, a missing blank line, several `data` lines, lone CR line ends, a byte order mark) is a
framing problem. Events are still recovered leniently, as the SSE specification reads them, so that
their content can be checked too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# aiohttp, which the Python client streams with, refuses a line longer than this.
MAX_LINE_BYTES = 512 * 1024
DONE = "[DONE]"

# Comment lines (`: keepalive`) and `id:`, `retry:`, `event:` fields, before an event's data line or as a
# block of their own, are skipped by both clients (tests/checker/client_evidence.py shows it).
_IGNORED_LINE = rb"(?::|id:|retry:|event:)[^\r\n]*(?:\n|\r\n)"
_STRICT_EVENT = re.compile(rb"(?:%s)*data: ([^\r\n]+)(?:\n\n|\r\n\r\n)" % _IGNORED_LINE)
_IGNORED_BLOCK = re.compile(rb"(?:%s)+(?:\n|\r\n|\Z)" % _IGNORED_LINE)


@dataclass
class ParsedStream:
    payloads: list[str] = field(default_factory=list)  # each event's data, as SSE readers join it
    framing: str | None = None  # the first framing problem, if any
    longest_line: int = 0


def _first_framing_problem(body: bytes) -> str | None:
    position = 0
    while position < len(body):
        match = _STRICT_EVENT.match(body, position) or _IGNORED_BLOCK.match(body, position)
        if match is None:
            snippet = body[position:position + 60]
            line_end = body.find(b"\n", position)
            if b"\r" in body[position:line_end if line_end >= 0 else len(body)]:
                why = "a carriage return where the clients expect none (mixed or lone CR line ends)"
            elif body.startswith(b"data:", position) and not body.startswith(b"data: ", position):
                why = "`data:` without the space the Python client needs"
            elif b"\n\n" not in body[position:] and body[position:].startswith(b"data: "):
                why = "an event not followed by a blank line"
            elif re.match(rb"data: [^\r\n]+\n(?!\n)", body[position:]):
                why = "an event line not followed by a blank line"
            else:
                why = "not exactly `data: <json>` and a blank line"
            return f"byte {position}: {why}: {snippet!r}"
        position = match.end()
    return None


def _lenient_events(body: bytes) -> list[str]:
    """Events as the SSE specification reads them: data lines joined by newlines, fields ignored."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    payloads = []
    for block in text.split("\n\n"):
        data_lines = []
        for line in block.split("\n"):
            if line.startswith("data:"):
                value = line[5:]
                data_lines.append(value[1:] if value.startswith(" ") else value)
        if data_lines:
            payloads.append("\n".join(data_lines))
    return payloads


@functools.lru_cache(maxsize=8)
def parse_stream(body: bytes) -> ParsedStream:
    """The stream read once: the per-answer checks each ask for it, so the last few are kept (do not change
    what it returns)."""
    lines = body.split(b"\n")
    return ParsedStream(
        payloads=_lenient_events(body),
        framing=_first_framing_problem(body),
        longest_line=max((len(line) for line in lines), default=0),
    )
