"""Keys out of cassettes: the one redaction every recorded, imported or matched exchange goes through.

`redact_exchange` replaces with `PLACEHOLDER`:
- credential headers (`X-API-KEY`, `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, and
  any header whose name holds "api key" in any spelling) and such query parameters;
- in a body, the value of every field whose name holds "api key" (`provider_api_keys`, `api_key`,
  `apiKey`, `x-api-key`), at any depth, in objects and lists, whatever escapes spell the name
  (`"provider_api_key\\u0073"`); each scalar under such a field becomes the placeholder, keys and
  nulls are kept, so `{"openai": "sk-1"}` becomes `{"openai": "[redacted]"}`;
- in a body that is not valid JSON (cut short, trailing commas, single quotes, form-encoded), from
  such a name to the end of the object or list around it (or of the body): where a value ends cannot
  be trusted there, so more goes than strictly needed;
- then, anywhere in the exchange (URL, bodies, events, response headers), the literal text of every
  secret found above, 8 characters or longer, as raw and as JSON-escaped text: an upstream that
  echoes a key in an error message does not leak it either.

Bytes without a secret stay byte for byte as they were; the result is the same when redacted again.
Responses are redacted too (per event in a stream), so a response that holds a key-named field
differs from what the client got in exactly that field.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from mockserver.recording.events import is_event_stream
from mockserver.recording.har import Exchange, NameValue, StreamEvent, pack

PLACEHOLDER = "[redacted]"
_PLACEHOLDER_JSON = json.dumps(PLACEHOLDER)
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
MIN_LITERAL = 8  # shorter secrets are not searched for elsewhere: "x" would eat every x in a body

_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ANY_ESCAPE = re.compile(r"\\(.)", re.S)
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*\\?(?:"|\Z))
  | (?P<punct>[{}\[\]:,=])
  | (?P<word>[^\s{}\[\]:,="]+)
  | (?P<other>.)
""", re.X | re.S)
_OPEN, _CLOSE = "{[", "}]"
# What `redact_exchange` returned (while it lives), so the writer does not redact the same exchange
# twice. By identity, not equality: an equal exchange loaded from a file is redacted again.
_REDACTED: weakref.WeakValueDictionary[int, Exchange] = weakref.WeakValueDictionary()
Tokens = list[tuple[str, str]]


def _unescape_u(text: str) -> str:
    return _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _is_secret_text(text: str) -> bool:
    """Whether decoded text names a key: it says "api key" in any spelling (`x-api-key`, `apiKey`,
    `provider_api_keys`, `api%5Fkey`)."""
    return _is_secret_short(text) if len(text) <= 100 else _is_secret_long(text)


def _is_secret_long(text: str) -> bool:
    return "apikey" in _NOT_ALNUM.sub("", unquote(text).lower())


_is_secret_short = lru_cache(maxsize=4096)(_is_secret_long)  # field names repeat: look each up once


def _token_text(kind: str, raw: str) -> str:
    """What a string token or bare word says once its quotes and escapes are undone."""
    if kind != "string":
        return _unescape_u(raw)
    try:
        return str(json.loads(raw))
    except ValueError:  # cut short or badly escaped: undo what can be undone
        return _ANY_ESCAPE.sub(lambda m: m.group(1), _unescape_u(raw.strip('"')))


def is_secret_name(name: str) -> bool:
    """A body field or query parameter name that holds a key (headers: also `SECRET_HEADERS`)."""
    return _is_secret_text(name)


class _Object(list):  # type: ignore[type-arg]
    """A parsed JSON object as its (key, value) pairs, duplicates included."""


def _has_secret_value(text: str) -> bool:
    """Whether valid JSON `text` holds a key-named field with a non-null scalar under it (the SDKs'
    `"provider_api_keys": {}` does not). Raises ValueError (or RecursionError) if it is not JSON."""
    found = False

    def pairs(items: list[tuple[str, object]]) -> _Object:
        nonlocal found
        found = found or any(_is_secret_text(key) and _holds_scalar(value) for key, value in items)
        return _Object(items)

    json.loads(text, object_pairs_hook=pairs)
    return found


def _holds_scalar(value: object) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _Object):
            pending.extend(v for _, v in item)
        elif isinstance(item, list):
            pending.extend(item)
        elif item is not None:
            return True
    return False


_SPELLS_API_KEY = re.compile("[^a-z0-9]*".join("apikey"))


def _might_name_a_secret(text: str) -> bool:
    """False only if no token of `text` can spell a secret name: a quick look before parsing, since
    most bodies (and every stream event) never say "api key" at all."""
    lowered = text.lower()
    if "\\u" in lowered or "%" in lowered:  # escapes could spell the letters: undo them first
        lowered = unquote(_unescape_u(lowered)).lower()
    return _SPELLS_API_KEY.search(lowered) is not None


def _next_solid(tokens: Tokens, start: int) -> int:
    while start < len(tokens) and tokens[start][0] == "space":
        start += 1
    return start


def _closing(tokens: Tokens, start: int) -> int:
    """The index of the first bracket from `start` on that closes one opened before `start`, or the end."""
    depth = 0
    for index in range(start, len(tokens)):
        kind, raw = tokens[index]
        if kind == "punct" and raw in _OPEN:
            depth += 1
        elif kind == "punct" and raw in _CLOSE:
            if depth == 0:
                return index
            depth -= 1
    return len(tokens)


def _value_end(tokens: Tokens, start: int) -> int:
    """The index after the value starting at `start` (for an object or list, after its closing bracket)."""
    if tokens[start][1] not in _OPEN:
        return start + 1
    return min(_closing(tokens, start + 1) + 1, len(tokens))


def _is_key(tokens: Tokens, index: int) -> bool:
    after = _next_solid(tokens, index + 1)
    return tokens[index][0] == "string" and after < len(tokens) and tokens[after][1] == ":"


def _redact_scalars(tokens: Tokens, start: int, end: int, secrets: list[str]) -> list[str]:
    """One valid JSON value's tokens with every scalar but null replaced (keys kept)."""
    out = []
    for index in range(start, end):
        kind, raw = tokens[index]
        if kind in ("string", "word") and raw != "null" and not _is_key(tokens, index):
            secrets.append(_token_text(kind, raw))
            raw = _PLACEHOLDER_JSON
        out.append(raw)
    return out


def _scrub(text: str, valid_json: bool, secrets: list[str]) -> str:
    tokens = [(match.lastgroup or "other", match.group()) for match in _TOKEN.finditer(text)]
    out: list[str] = []
    index = 0
    while index < len(tokens):
        kind, raw = tokens[index]
        out.append(raw)
        index += 1
        if kind not in ("string", "word") or not _is_secret_text(_token_text(kind, raw)):
            continue
        value = _next_solid(tokens, index)
        if value < len(tokens) and tokens[value][1] in ":=":
            value = _next_solid(tokens, value + 1)
        elif valid_json:
            continue  # a string that is a value, not a key: nothing follows it to hide
        out.extend(raw for _, raw in tokens[index:value])
        if value >= len(tokens):
            break
        if valid_json:
            index = _value_end(tokens, value)
            out.extend(_redact_scalars(tokens, value, index, secrets))
        else:
            # Where the value ends cannot be trusted: hide the rest of the enclosing object or list.
            # Only what looks like the value itself counts as a secret to search for elsewhere.
            index = _closing(tokens, value)
            value_end = min(_value_end(tokens, value), index)
            secrets.extend(_token_text(kind, raw) for at, (kind, raw) in enumerate(tokens[value:value_end], value)
                           if kind in ("string", "word") and not _is_key(tokens, at))
            if index > value:
                out.append(_PLACEHOLDER_JSON)
    return "".join(out)


def redact_body(data: bytes, secrets: list[str] | None = None) -> bytes:
    """`data` with the values of key-named fields replaced; the secrets found are added to `secrets`."""
    text = data.decode("utf-8", errors="surrogateescape")
    if not _might_name_a_secret(text):
        return data
    try:
        valid_json = True
        if not _has_secret_value(text):
            return data
    except (ValueError, RecursionError):
        valid_json = False
    found: list[str] = [] if secrets is None else secrets
    return _scrub(text, valid_json, found).encode("utf-8", errors="surrogateescape")


def redact_event_stream(data: bytes, secrets: list[str] | None = None) -> bytes:
    """An SSE body redacted event by event, each `data:` line's payload as a body (boundaries kept)."""
    lines = data.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.startswith(b"data:"):
            payload = line[5:].rstrip(b"\r\n")
            lines[number] = b"data:" + redact_body(payload, secrets) + line[5 + len(payload):]
    return b"".join(lines)


def redact_headers(headers: Sequence[tuple[str, str]], secrets: list[str] | None = None) -> list[tuple[str, str]]:
    redacted = []
    for name, value in headers:
        if name.lower() in SECRET_HEADERS or is_secret_name(name):
            if secrets is not None:
                secrets.extend([value, *value.split()[1:]])  # `Bearer <token>`: the token alone too
            value = PLACEHOLDER
        redacted.append((name, value))
    return redacted


def redact_url(url: str, secrets: list[str] | None = None) -> str:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(is_secret_name(name) for name, _ in pairs):
        return url
    query = urlencode(redact_headers(pairs, secrets))
    return urlunsplit(parts._replace(query=query))


def scrub_literals(data: bytes, secrets: list[str]) -> bytes:
    """`data` with each secret's text (raw or JSON-escaped), 8 characters or longer, replaced."""
    return _replace_all(data, _literals(secrets))


def _literals(secrets: list[str]) -> list[bytes]:
    literals = set()
    for secret in secrets:
        if len(secret) >= MIN_LITERAL and secret != PLACEHOLDER:
            literals.add(secret.encode("utf-8", errors="surrogateescape"))
            literals.add(json.dumps(secret)[1:-1].encode())
    return sorted(literals, key=len, reverse=True)  # longer first: a key holding another


def _replace_all(data: bytes, literals: list[bytes]) -> bytes:
    for literal in literals:
        data = data.replace(literal, PLACEHOLDER.encode())
    return data


def redact_request_body(body: bytes, headers: Sequence[tuple[str, str]] = (), url: str = "") -> bytes:
    """A request body as a cassette keeps it (what replay matching compares): key-named fields, then
    any other place the request's own keys appear."""
    secrets: list[str] = []
    redact_headers(headers, secrets)
    redact_url(url, secrets)
    return scrub_literals(redact_body(body, secrets), secrets)


@dataclass
class _Parts:
    """An exchange's secret-bearing parts: text fields and bodies (a stream's body is its events)."""

    url: str
    request_headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    request_body: bytes
    response_headers: list[tuple[str, str]]
    chunks: list[bytes]

    def scrubbed(self, secrets: list[str]) -> _Parts:
        literals = _literals(secrets)
        if not literals:
            return self

        def text(value: str) -> str:
            return _replace_all(value.encode("utf-8", errors="surrogateescape"), literals).decode(
                "utf-8", errors="surrogateescape")

        return _Parts(url=text(self.url), request_headers=[(n, text(v)) for n, v in self.request_headers],
                      query=[(n, text(v)) for n, v in self.query],
                      request_body=_replace_all(self.request_body, literals),
                      response_headers=[(n, text(v)) for n, v in self.response_headers],
                      chunks=[_replace_all(chunk, literals) for chunk in self.chunks])


def redact_exchange(exchange: Exchange) -> Exchange:
    """The exchange with every key replaced by `PLACEHOLDER` (see the module docstring). What it
    returns is marked, and given back as it is if redacted again."""
    if _REDACTED.get(id(exchange)) is exchange:
        return exchange
    secrets: list[str] = []
    request, response = exchange.request, exchange.response
    redact_response = redact_event_stream if is_event_stream(response.content.mime_type) else redact_body
    chunks = exchange.event_bytes() if exchange.is_stream else [response.content.body()]
    if not _might_name_a_secret(b"".join(chunks).decode("utf-8", errors="surrogateescape")):
        # The usual answer: no field that could hold a key, so no event needs looking into.
        redact_response = _unchanged
    parts = _Parts(
        url=redact_url(request.url, secrets),
        request_headers=redact_headers(request.header_pairs(), secrets),
        query=redact_headers([(q.name, q.value) for q in request.query_string], secrets),
        request_body=redact_body(request.body(), secrets),
        response_headers=redact_headers(response.header_pairs(), secrets),
        chunks=[redact_response(chunk, secrets) for chunk in chunks],
    ).scrubbed(secrets)
    redacted = _rebuilt(exchange, parts)
    _REDACTED[id(redacted)] = redacted
    return redacted


def _unchanged(data: bytes, secrets: list[str] | None = None) -> bytes:
    return data


def _event_with(event: StreamEvent, data: bytes) -> StreamEvent:
    text, encoding = pack(data)
    if (text, encoding) == (event.text, event.encoding):
        return event  # the usual case: nothing in it to redact (and a copy per event costs)
    return event.model_copy(update={"text": text, "encoding": encoding})


def _rebuilt(exchange: Exchange, parts: _Parts) -> Exchange:
    request, response = exchange.request, exchange.response
    request_update: dict[str, object] = {
        "url": parts.url,
        "headers": [NameValue(name=n, value=v) for n, v in parts.request_headers],
        "query_string": [NameValue(name=n, value=v) for n, v in parts.query],
    }
    if request.post_data is not None:
        text, encoding = pack(parts.request_body)
        request_update["post_data"] = request.post_data.model_copy(update={"text": text, "encoding": encoding})
    body = b"".join(parts.chunks)
    text, encoding = pack(body)
    content_update: dict[str, object] = {"text": text, "encoding": encoding, "size": len(body)}
    if exchange.is_stream:
        content_update["events"] = [_event_with(event, chunk)
                                    for event, chunk in zip(response.content.events or [], parts.chunks, strict=True)]
    return exchange.model_copy(update={
        "request": request.model_copy(update=request_update),
        "response": response.model_copy(update={
            "headers": [NameValue(name=n, value=v) for n, v in parts.response_headers],
            "content": response.content.model_copy(update=content_update),
        }),
    })
