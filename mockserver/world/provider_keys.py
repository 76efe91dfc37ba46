"""Provider API keys are never kept: every value under `provider_api_keys` is replaced before a body
is journaled, whatever the body's shape or state.

A client's body is kept as it came (the journal, the page and test reports show it), so the keys are
taken out of those bytes once, when the journal entry is made, not each time it is read. The name can
hide in many forms: escaped (`"provider_api_key\\u0073"`), in a list, nested at any depth, with a
string or a number for a value, in a body that is not JSON at all or was cut off on the way. So:

- a body that never names the key (the usual chat call: one substring test, plus a scan for escapes
  only when it has a `\\u`) is kept as it is;
- a JSON body is parsed, every value under the key (at any depth) replaced, and written back;
- anything else is scanned as text: after each occurrence of the name (escaped or not), the value
  that follows its `:` or `=` is replaced, up to its end, or to the end of the body when it never ends.
"""

from __future__ import annotations

import re
from typing import Any

import re2

from mockserver import jsonio

KEY = "provider_api_keys"
REDACTED = "[redacted]"
_LITERAL = KEY.encode("ascii")
# The name with any of its characters written as a JSON `\uXXXX` escape (either case of hex digit).
_NAME = re.compile(b"".join(b"(?:%s|\\\\u%s)" % (re.escape(bytes([c])), b"".join(
    b"[%s%s]" % (h.encode(), h.upper().encode()) if h.isalpha() else h.encode() for h in f"{c:04x}"))
    for c in _LITERAL))
# The same, for finding whether a large body names the key at all: RE2 looks in linear time, about five
# times as fast as `re` on a body full of `\u` escapes (a few megabytes: tens of milliseconds, not 200).
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.encoding = re2.Options.Encoding.LATIN1
_NAME_FINDER = re2.compile(_NAME.pattern, options=_OPTIONS)
_REDACTED_JSON = b'"' + REDACTED.encode("ascii") + b'"'
_ASSIGN = re.compile(rb'"?[ \t\r\n]*[:=][ \t\r\n]*')
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')  # an unclosed string runs to the end
_BARE = re.compile(rb"[^,}\]&\r\n]*")
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[{}\[\]]')
# Bounds on the text scan (a hostile body could repeat the name or nest brackets millions of times).
MAX_OCCURRENCES = 1000
MAX_TOKENS = 100_000
# Larger bodies are scanned as text, never parsed here (parsing megabytes of small values takes long).
MAX_PARSED_BYTES = 1 << 20


def names_the_key(body: bytes) -> bool:
    """Whether the body may name `provider_api_keys` anywhere (cheap for bodies that do not)."""
    return _LITERAL in body or (b"\\u" in body and _NAME_FINDER.search(body) is not None)


def scrub(body: bytes, *, parse: bool = True) -> bytes:
    """`body` with every provider key value replaced by `[redacted]` (the same bytes when it has none).
    Without `parse`, a body that names the key is scanned as text, never parsed (it is refused anyway)."""
    if _LITERAL not in body and (b"\\u" not in body or _NAME_FINDER.search(body) is None):  # (`names_the_key`)
        return body
    if not parse or len(body) > MAX_PARSED_BYTES:
        return scrub_text(body)
    try:
        value = jsonio.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return scrub_text(body)
    return jsonio.dumps(redact(value))


def redact(value: Any) -> Any:
    """A parsed body with the value of every `provider_api_keys` key, at any depth, replaced: an object
    keeps its key names (`{"openai": "[redacted]"}`, a null stays null), anything else becomes `"[redacted]"`."""
    stack: list[Any] = [value]
    while stack:  # (no recursion: a body may nest as deep as the JSON parser allows)
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key == KEY:
                    item[key] = ({k: (REDACTED if v is not None else None) for k, v in inner.items()}
                                 if isinstance(inner, dict) else REDACTED)
                elif isinstance(inner, dict | list):
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(inner for inner in item if isinstance(inner, dict | list))
    return value


def scrub_text(body: bytes) -> bytes:
    """A body that is not JSON (or not all there): the value after each occurrence of the name is
    replaced, from its `:` or `=` to where it ends, or to the end of the body. Past `MAX_OCCURRENCES`
    names, or a value of more than `MAX_TOKENS` strings and brackets, the rest of the body goes."""
    out: list[bytes] = []
    position = 0
    for count, found in enumerate(_NAME.finditer(body)):
        if found.start() < position:
            continue  # inside a value already replaced
        if count >= MAX_OCCURRENCES:
            out += [body[position:found.start()], _REDACTED_JSON]
            return b"".join(out)
        start = _value_start(body, found.end())
        if start is None:
            continue
        out += [body[position:start], _REDACTED_JSON]
        position = _value_end(body, start)
    out.append(body[position:])
    return b"".join(out)


def _value_start(body: bytes, index: int) -> int | None:
    """Where the value after a name at `index` starts (past its quote, `:` or `=` and spaces), or None."""
    found = _ASSIGN.match(body, index)
    return found.end() if found else None


def _value_end(body: bytes, start: int) -> int:
    """Just past the value starting at `start`: a string, an object or array (nesting counted, strings
    skipped), or a bare word; the end of the body when the value never ends."""
    if body.startswith(b"{", start) or body.startswith(b"[", start):
        depth = 0
        for count, token in enumerate(_TOKEN.finditer(body, start)):
            if count >= MAX_TOKENS:
                break
            text = token.group()
            if text in (b"{", b"["):
                depth += 1
            elif text in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    return token.end()
        return len(body)
    return (_STRING if body.startswith(b'"', start) else _BARE).match(body, start).end()  # type: ignore[union-attr]
