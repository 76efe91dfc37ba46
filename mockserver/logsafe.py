"""Client-controlled values in log lines: control characters escaped, so no value can forge a line.

A value such as an `experiment_id` holding `\\n` would otherwise start a new, fake log record; NUL,
escape sequences and Unicode line separators would reach the terminal or the log file raw.
`EscapingFilter` escapes every string argument of a record (the message template is ours and stays
as written), so it covers our own lines and uvicorn's access log alike.
"""

from __future__ import annotations

import logging
import re

# C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`value` as text with every control character written as an escape (`\\n` -> `\\x0a`)."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


class EscapingFilter(logging.Filter):
    """Escapes control characters in a record's string arguments (bytes print as their repr already)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(printable(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: printable(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


# Loggers whose records can carry client-controlled values: ours, and uvicorn's (the access log
# prints the request path and query).
LOGGERS = ("humanloop_mock", "uvicorn", "uvicorn.access", "uvicorn.error")


def install() -> None:
    """Add the filter to each logger above, once (a logger's filters see every record it creates)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapingFilter) for f in logger.filters):
            logger.addFilter(EscapingFilter())
