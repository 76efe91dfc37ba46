"""A server-sent event stream cut into its events, byte for byte.

Replay must send the recorded events with the recorded boundaries, so the cut keeps every byte:
joining the events gives the body back exactly. An event ends at a blank line (a line terminator,
CRLF, LF or CR, right after another), as the SSE specification says; bytes after the last blank line
(a stream cut short) are a last, unfinished event. httpx-sse parses events into fields and drops the
framing, which is what we must keep, hence this small splitter.
"""

from __future__ import annotations

import re

# A line terminator is CRLF, LF, or a CR not followed by LF (a CRLF is never two terminators).
_TERMINATOR = rb"(?:\r\n|\r(?!\n)|\n)"
_BLANK_LINE = re.compile(_TERMINATOR + _TERMINATOR)


class EventSplitter:
    """Cuts bytes arriving in any pieces into whole events; the same events whatever the pieces.

    Each piece is searched once (with the few bytes before it that a blank line can start in), and the
    bytes waiting for their event's end are kept in one growing buffer: an event that never ends (an
    upstream streaming one endless line) costs time in proportion to its length, not its square."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of `_buffer` already searched for a blank line (none ends in them)
        self._has_cr = False

    def feed(self, data: bytes) -> list[bytes]:
        """The events completed by `data`."""
        self._buffer += data
        self._has_cr = self._has_cr or b"\r" in data
        return self._cut(final=False)

    def close(self) -> list[bytes]:
        """What is left at the end of the stream: its last events, the last maybe unfinished."""
        events = self._cut(final=True)
        tail, self._buffer, self._scanned = bytes(self._buffer), bytearray(), 0
        return events + ([tail] if tail else [])

    def _cut(self, final: bool) -> list[bytes]:
        if not self._has_cr:  # the usual stream, LF only: a plain search is much faster
            return self._cut_at_lf_pairs()
        events = []
        start = 0
        buffer = self._buffer
        # A blank line is at most 4 bytes (CRLF CRLF): one ending in the new bytes starts at most 3 before.
        for match in _BLANK_LINE.finditer(buffer, max(0, self._scanned - 3)):
            # A CR as the last byte so far may be the first half of a CRLF: wait for the next piece.
            if not final and match.end() == len(buffer) and buffer.endswith(b"\r"):
                break
            events.append(bytes(buffer[start:match.end()]))
            start = match.end()
        self._keep_from(start)
        return events

    def _cut_at_lf_pairs(self) -> list[bytes]:
        events, start, buffer = [], 0, self._buffer
        while (end := buffer.find(b"\n\n", max(start, self._scanned - 1))) >= 0:
            events.append(bytes(buffer[start:end + 2]))
            start = end + 2
        self._keep_from(start)
        return events

    def _keep_from(self, start: int) -> None:
        """Drop the bytes of the events handed out; what is left has been searched."""
        if start:
            del self._buffer[:start]
        self._scanned = len(self._buffer)


def split_events(body: bytes) -> list[bytes]:
    """A whole stream's events; `b"".join(split_events(body)) == body`."""
    splitter = EventSplitter()
    return splitter.feed(body) + splitter.close()


def is_event_stream(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "text/event-stream"
