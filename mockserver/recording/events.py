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
    """Cuts bytes arriving in any pieces into whole events; the same events whatever the pieces."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The events completed by `data`."""
        self._buffer += data
        return self._cut(final=False)

    def close(self) -> list[bytes]:
        """What is left at the end of the stream: its last events, the last maybe unfinished."""
        events = self._cut(final=True)
        tail, self._buffer = self._buffer, b""
        return events + ([tail] if tail else [])

    def _cut(self, final: bool) -> list[bytes]:
        if b"\r" not in self._buffer:  # the usual stream, LF only: a plain search is much faster
            return self._cut_at_lf_pairs()
        events = []
        start = 0
        for match in _BLANK_LINE.finditer(self._buffer):
            # A CR as the last byte so far may be the first half of a CRLF: wait for the next piece.
            if not final and match.end() == len(self._buffer) and self._buffer.endswith(b"\r"):
                break
            events.append(self._buffer[start:match.end()])
            start = match.end()
        self._buffer = self._buffer[start:]
        return events

    def _cut_at_lf_pairs(self) -> list[bytes]:
        events, start, buffer = [], 0, self._buffer
        while (end := buffer.find(b"\n\n", start)) >= 0:
            events.append(buffer[start:end + 2])
            start = end + 2
        self._buffer = buffer[start:]
        return events


def split_events(body: bytes) -> list[bytes]:
    """A whole stream's events; `b"".join(split_events(body)) == body`."""
    splitter = EventSplitter()
    return splitter.feed(body) + splitter.close()


def is_event_stream(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "text/event-stream"
