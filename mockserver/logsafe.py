"""Client-controlled text made safe to log: control characters escaped, so one value is one log line.

A value such as an `experiment_id` holding `\\n` would otherwise start a new, fake log record; NUL,
escape sequences and Unicode line separators would reach the terminal or the log file raw. Call
sites escape what they log with `printable`; `EscapingFilter` does the same to every string argument
of every record our loggers and uvicorn's (the access log prints the request path and query) create,
so a line that forgets is still safe. The message template is ours and stays as written.
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(value: object, limit: int = 200) -> str:
    """`value` as text with control characters written as escapes (`\\n`, `\\x00`), cut to `limit` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class EscapingFilter(logging.Filter):
    """Escapes (and shortens) a record's string arguments; bytes already print as their escaped repr."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(printable(a, ARG_LIMIT) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: printable(v, ARG_LIMIT) if isinstance(v, str) else v for k, v in args.items()}
        return True


ARG_LIMIT = 1000  # characters of one logged value
# Loggers whose records can carry client-controlled values.
LOGGERS = ("humanloop_mock", "uvicorn", "uvicorn.access", "uvicorn.error")


def install() -> None:
    """Add the filter to each logger above, once (a logger's filters see every record it creates)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapingFilter) for f in logger.filters):
            logger.addFilter(EscapingFilter())
