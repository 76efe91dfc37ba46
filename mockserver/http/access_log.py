"""`serve`'s access log: one line per request, written in batches so it costs little under load.

uvicorn's own access log goes through `logging` and writes (and flushes) every line as it comes,
which cost the default server about a third of its throughput. This log formats one line in the
same style and writes what gathered in the last `FLUSH_EVERY` seconds with a single write, so a
busy server makes about 20 writes a second however many requests it answers, and a person watching
sees each line at once. Lines say what the client sent and what it got (method, path, status, and
the reason for an error answer); headers, bodies and keys are never written (a query parameter with a
secret name shows `[redacted]`, `provider_keys`), and what the client chose (the path, the query, an
id in an error) is escaped (`logsafe`): one request, one line.
"""

from __future__ import annotations

import asyncio
from typing import Any, TextIO

from mockserver.http import console
from mockserver.http.phrases import PHRASES
from mockserver.logsafe import ARG_LIMIT, printable
from mockserver.world.provider_keys import redact_query

FLUSH_EVERY = 0.05  # seconds
LINES_KEPT = 1024  # formatted request lines remembered (a full table is cleared)


def _detail_text(detail: Any) -> str:
    """An error's detail in one short line (the first validation item is enough to see why)."""
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        more = f" (+{len(detail) - 1} more)" if len(detail) > 1 else ""
        return f"{location}: {first.get('msg', '')}{more}"
    return str(detail)


class AccessLog:
    """Request lines for `stream`, flushed every `FLUSH_EVERY` seconds. Without a stream they go to
    stdout through `console.stdout`, which never blocks the event loop nor raises (whatever stdout is)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._pending: list[str] = []
        # The text after the client's address, by (method, path, query, HTTP version, status): clients
        # repeat requests, and escaping and formatting the same ones again cost more than the rest.
        self._lines: dict[tuple[Any, ...], str] = {}

    def _line(self, scope: dict[str, Any], status: int) -> str:
        key = (scope["method"], scope["path"], scope.get("query_string", b""), scope.get("http_version", "1.1"),
               status)
        line = self._lines.get(key)
        if line is None:
            method, path, query, version, _ = key
            target = printable(path + ("?" + redact_query(query.decode("latin-1")) if query else ""), ARG_LIMIT)
            line = f' - "{method} {target} HTTP/{version}" {status} {PHRASES.get(status, "")}'
            if len(self._lines) >= LINES_KEPT:
                self._lines.clear()
            self._lines[key] = line
        return line

    def request(self, scope: dict[str, Any], status: int, error: Any = None) -> None:
        client = scope.get("client")
        line = f"INFO:     {client[0]}:{client[1]}" if client else "INFO:     -"
        line += self._line(scope, status)
        if error is not None:
            line += " - " + printable(_detail_text(error))
        if not self._pending:
            try:
                asyncio.get_running_loop().call_later(FLUSH_EVERY, self.flush)
            except RuntimeError:  # no loop (a synchronous caller): write at once
                self._pending.append(line + "\n")
                self.flush()
                return
        self._pending.append(line + "\n")

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if not lines:
            return
        if self.stream is None:
            console.stdout.write("".join(lines))
        else:
            self.stream.write("".join(lines))
            self.stream.flush()
