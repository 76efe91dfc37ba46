"""Keys out of everything the mock keeps or writes: the one redaction the journal, the access log and
the cassette writer (`mockserver.recording`) share. It imports nothing else of `mockserver`.

A *secret name* says "api key" in any spelling once escapes are undone: `provider_api_keys`,
`api_key`, `apiKey`, `X-API-KEY`, `provider_api_key\\u0073`, `provider%5Fapi%5Fkeys`. What is hidden:

- headers: the value of `X-API-KEY`, `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`
  and of any header with a secret name (`is_secret_header`);
- a query string: the value of every parameter with a secret name (`redact_query`);
- a body (`redact_body`), read the way the server reads JSON (UTF-8, or UTF-16/32 by its first bytes):
  - valid JSON: under every key with a secret name, at any depth and in lists, each scalar becomes
    `"[redacted]"`; object keys that read like a provider's name (`openai`, `ai21`: a lower-case
    identifier) and nulls are kept, any other key is hidden too (a key can be the secret);
  - anything else (cut short, single quotes, form-encoded, multipart, too many values to parse here):
    everything from the first secret name on is one `"[redacted]"`: where a value ends cannot be
    trusted there.

Bounded work, whatever the body: a body that cannot spell a name (the usual request) is kept as it
is after one byte pass; otherwise one linear pass of RE2 (no backtracking) finds the names, JSON is
parsed only when it holds at most about `MAX_PARSED_VALUES` values, and at most `MAX_NAMES` keys are
looked into (past it, the rest of the body goes). `redaction` does it in steps, each one pass of C
code over the body or `STEP_SECONDS` of looking into values: on the server, a large body's steps take
turns with other work (`heavy`); the largest step for an 8 MiB body is a few tens of milliseconds
(docs/server.md).
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Callable, Generator, Iterable
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import unquote, unquote_plus

import re2

PLACEHOLDER = "[redacted]"
PLACEHOLDER_JSON = json.dumps(PLACEHOLDER)
_PLACEHOLDER_BYTES = PLACEHOLDER.encode("ascii")
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"})
# Bodies with more `{`, `[`, `,` and `:` than this are not parsed here (the server's default
# `--max-body-values`: a body past it is refused anyway): their text is redacted from the first name on.
MAX_PARSED_VALUES = 20_000
# Secret-named keys looked into per body; past it, the rest of the body goes.
MAX_NAMES = 1000
# Shorter secrets are not searched for elsewhere (`echoes`): "x" would eat every x in an answer.
MIN_ECHO = 8
# What is read of a value that is not valid JSON to learn the secrets it holds (for `secrets`).
VALUE_WINDOW = 64 * 1024

# How long a step of `redaction` goes on looking into values before it yields.
STEP_SECONDS = 0.01

T = TypeVar("T")
_HEX = "[0-9A-Fa-f]"


def _hex(code: int, width: int) -> str:
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{code:0{width}x}")


def _letter(char: str) -> str:
    """One letter of "apikey" in either case, raw, as a JSON `\\u` escape or a `%` escape."""
    forms = [char, char.upper()]
    for form in (char, char.upper()):
        forms += [r"\\u" + _hex(ord(form), 4), "%" + _hex(ord(form), 2)]
    return "(?:" + "|".join(forms) + ")"


def _spelled(separator: str) -> str:
    """"apikey", letter by letter, with any run of `separator` between two letters."""
    return f"{separator}*".join(_letter(char) for char in "apikey")


_ESCAPE = rf"\\u{_HEX}{{4}}|%{_HEX}{{2}}|\\[^u]"  # an escape (what it spells aside)
_ANY_NAME = _spelled(rf"(?:[^A-Za-z0-9]|{_ESCAPE})")
_BARE_NAME = _spelled(rf"""(?:[^A-Za-z0-9\s"'{{}}\[\]:,=&;\\]|{_ESCAPE})""")
_BARE_TAIL = r"""(?:[^\s"'{}\[\]:,=&;\\]|\\.)*"""
_IN_STRING_NAME = _spelled(rf"""(?:[^A-Za-z0-9"\\]|{_ESCAPE})""")
_STRING_CHAR = r'(?:[^"\\]|\\.)'
# A JSON key holding a secret name, up to where its value starts.
_KEY = rf'"{_STRING_CHAR}*?{_IN_STRING_NAME}{_STRING_CHAR}*"\s*:\s*'


def _options(latin1: bool) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True
    if latin1:  # every byte a character: invalid UTF-8 is still scanned
        options.encoding = re2.Options.Encoding.LATIN1
    return options


_QUICK = re2.compile(_ANY_NAME.encode("ascii"), _options(True))
# The first JSON key or bare word (with the rest of it) holding a secret name.
_FIRST_NAME = re2.compile(f"(?:{_KEY})|{_BARE_NAME}{_BARE_TAIL}".encode("ascii"), _options(True))
_JSON_KEYS = re2.compile(_KEY, _options(False))
# After a bare name (not a JSON key): its closing quote, form brackets (`[openai]`, `%5Bopenai%5D`), `:` or `=`.
_AFTER_NAME = re.compile(rb"""["']?(?:\[[^\]\s&]{0,64}\]|%5[bB][^&\s]{0,64}?%5[dD])*\s*[:=]?\s*""")
_TOKEN = re.compile(rb"""\s*(?:("[^"\\]*(?:\\.[^"\\]*)*"?)|([\[{])|([\]}])|[:,=&]|([^\s{}\[\]:,="&]+))""", re.S)
_FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_NOT_ALNUM = bytes(c for c in range(256) if not chr(c).isascii() or not chr(c).isalnum())
_NOT_ALNUM_TEXT = re.compile(r"[^a-z0-9]")
_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_KEPT_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")  # a provider's name (`openai`, `openai_azure_endpoint`)


# --- names -----------------------------------------------------------------------------------------

def _is_secret_text(text: str) -> bool:
    return "apikey" in _NOT_ALNUM_TEXT.sub("", unquote(_U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)).lower())


_is_secret_short = lru_cache(maxsize=4096)(_is_secret_text)  # names repeat: look each up once


def is_secret_name(name: str) -> bool:
    """Whether a field, parameter or header name says "api key" in any spelling (escapes undone)."""
    return _is_secret_short(name) if len(name) <= 100 else _is_secret_text(name)


def is_secret_header(name: str) -> bool:
    """A credential header (`X-API-KEY`, `Authorization`, `Cookie`, ...) or one with a secret name."""
    return name.lower() in SECRET_HEADERS or is_secret_name(name)


_BACKSLASH, _PERCENT, _K, _K_UPPER, _Y, _Y_UPPER = b"\\%kKyY"


def might_name_a_secret(data: bytes) -> bool:
    """False only if no secret name can be spelled in `data` (one byte pass for the usual body)."""
    # No escapes: the letters must be there, apart only by punctuation. (A byte is looked for as an int:
    # `memchr`, ten times quicker than a one-byte `bytes` needle.)
    if _BACKSLASH not in data and _PERCENT not in data:
        if (_K not in data and _K_UPPER not in data) or (_Y not in data and _Y_UPPER not in data):
            return False  # a letter of the name is missing (no copy of the body)
        return b"apikey" in data.translate(_FOLD, _NOT_ALNUM)
    return _QUICK.search(data) is not None


def echoes(secrets: Iterable[str]) -> list[bytes]:
    """What to look for elsewhere of the secrets found (an answer may echo one): each one's text, raw and
    JSON-escaped, if it is `MIN_ECHO` characters or longer, longer first (a key may hold another)."""
    found = set()
    for secret in secrets:
        if len(secret) >= MIN_ECHO and secret != PLACEHOLDER:
            found.add(secret.encode("utf-8", errors="surrogateescape"))
            found.add(json.dumps(secret)[1:-1].encode("utf-8", errors="surrogateescape"))
    return sorted(found, key=len, reverse=True)


def hide_echoes(data: bytes, echoed: list[bytes]) -> bytes:
    """`data` with each of `echoes` replaced by the placeholder."""
    for text in echoed:
        data = data.replace(text, _PLACEHOLDER_BYTES)
    return data


def hide_echoes_in_text(text: Any, echoed: list[bytes]) -> Any:
    """`hide_echoes` for text (an error's detail); anything but a string as it is."""
    if not isinstance(text, str):
        return text
    return hide_echoes(text.encode("utf-8", "surrogateescape"), echoed).decode("utf-8", "surrogateescape")


# --- headers and query strings ---------------------------------------------------------------------

def redact_header_pairs(headers: Iterable[tuple[str, str]], secrets: list[str] | None = None
                        ) -> list[tuple[str, str]]:
    """Headers with every credential's value replaced; the values hidden are added to `secrets`."""
    redacted = []
    for name, value in headers:
        if is_secret_header(name):
            if secrets is not None:
                secrets.extend([value, *value.split()[1:]])  # `Bearer <token>`: the token alone too
            value = PLACEHOLDER
        redacted.append((name, value))
    return redacted


_QUERY_SEPARATORS = re.compile("([&;])")


def _hide_query_values(query: str, hides: Callable[[str, str], bool]) -> str:
    """`query` with the value of each `name=value` parameter for which `hides(name, value)` holds replaced;
    everything else as it was. `;` separates parameters too (some servers read `a=1;api_key=sk-1` as two)."""
    parts = _QUERY_SEPARATORS.split(query)  # (the separators kept, at the odd places)
    changed = False
    for index in range(0, len(parts), 2):
        name, equals, value = parts[index].partition("=")
        if equals and hides(name, value):
            parts[index] = f"{name}={PLACEHOLDER}"
            changed = True
    return "".join(parts) if changed else query


def redact_query(query: str, secrets: list[str] | None = None) -> str:
    """A query string (`a=1&provider_api_keys[openai]=sk-1`) with the value of each parameter whose name
    is a secret name replaced (added to `secrets`)."""
    if not query or not might_name_a_secret(query.encode("utf-8", "surrogateescape")):
        return query

    def secret_named(name: str, value: str) -> bool:
        if value == PLACEHOLDER or not is_secret_name(unquote_plus(name)):
            return False
        if secrets is not None:
            secrets.append(unquote_plus(value))
        return True

    return _hide_query_values(query, secret_named)


def hide_in_query(query: str, secrets: list[str]) -> str:
    """`query` with the value of each parameter that holds one of `secrets` (8 characters or longer; as
    sent or percent-encoded, under any name) replaced: a key the request carried elsewhere, sent again."""
    secrets = [secret for secret in secrets if len(secret) >= 8]
    if not query or not secrets:
        return query
    return _hide_query_values(query, lambda _, value: any(secret in unquote_plus(value) or secret in value
                                                           for secret in secrets))


def header_secrets(raw_headers: Iterable[tuple[bytes, bytes]], secrets: list[str]) -> None:
    """Add to `secrets` the values of a request's credential headers (`X-API-KEY`, `Authorization`, any
    header named like an API key), to hide where an answer echoes them."""
    for name, value in raw_headers:
        text = name.decode("latin-1")
        if is_secret_header(text):
            redact_header_pairs([(text, value.decode("latin-1"))], secrets)


# --- bodies ----------------------------------------------------------------------------------------

def redact_body(data: bytes, secrets: list[str] | None = None) -> bytes:
    """`data` with the values of secret-named fields hidden (the same object when it has none); the
    secrets found are added to `secrets`. See the module docstring for what goes."""
    if not _maybe_wide(data) and not might_name_a_secret(data):  # the usual body, in one byte pass
        return data
    return finish(redaction(data, secrets))


def finish(steps: Generator[None, None, T]) -> T:
    """Run a step generator (`redaction`) to its end; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def redaction(data: bytes, secrets: list[str] | None = None) -> Generator[None, None, bytes]:
    """`redact_body` in steps: it yields between its passes over the body (each of a few tens of
    milliseconds for 8 MiB), so a caller on the event loop can let other requests in between."""
    if _maybe_wide(data):
        encoding = json.detect_encoding(data)
        if not encoding.startswith("utf-8"):  # UTF-16 or UTF-32 JSON, which the server reads too
            try:
                utf8 = data.decode(encoding).encode("utf-8")
            except UnicodeError:
                utf8 = b""
            yield
            redacted = (yield from _redaction_utf8(utf8, secrets)) if utf8 else utf8
            if redacted is not utf8:
                return redacted.decode("utf-8").encode(encoding)
    return (yield from _redaction_utf8(data, secrets))


_WIDE_FIRST = frozenset(b"\x00\xfe\xff")


def _maybe_wide(data: bytes) -> bool:
    """Whether `data` may be JSON in UTF-16 or UTF-32 (a BOM, or a NUL in its first two bytes)."""
    return bool(data) and (data[0] in _WIDE_FIRST or data[1:2] == b"\x00")


def _redaction_utf8(data: bytes, secrets: list[str] | None) -> Generator[None, None, bytes]:
    if not might_name_a_secret(data):
        return data
    yield
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    text = _json_text(data[len(bom):])
    yield
    if text is None:
        return _redact_rest(data, secrets)
    redacted = yield from _redaction_json(text, secrets)
    return data if redacted is text else bom + redacted.encode("utf-8")


def _json_text(data: bytes) -> str | None:
    """`data` as text, if it is valid JSON of at most about `MAX_PARSED_VALUES` values (else None)."""
    if data.count(b",") > MAX_PARSED_VALUES:  # (nesting without commas is bounded by the parser's depth limit)
        return None
    try:
        text = data.decode("utf-8")
        json.loads(text)
    except (ValueError, RecursionError):
        return None
    return text


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, duplicates kept (a duplicate may hold the secret)."""


_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs)


def _redaction_json(text: str, secrets: list[str] | None) -> Generator[None, None, str]:
    """Valid JSON with every secret-named key's value hidden (`text` itself when nothing is); a step
    ends after each large value, or every `STEP_SECONDS`."""
    pieces: list[str] = []
    position = 0  # how far `pieces` has the text
    looked = 0  # how far values were looked into
    names = 0
    deadline = time.perf_counter() + STEP_SECONDS
    for found in _JSON_KEYS.finditer(text):
        if found.start() < looked:
            continue  # inside a value already looked into
        names += 1
        start = found.end()
        if names > MAX_NAMES:
            pieces += [text[position:start], PLACEHOLDER_JSON]
            position = len(text)
            break
        value, end = _DECODER.raw_decode(text, start)
        try:
            replacement, changed = _hidden(value, secrets)
        except RecursionError:
            replacement, changed = PLACEHOLDER_JSON, True
        if changed:  # (a value with nothing to hide, `{}` or nulls, is kept byte for byte)
            pieces += [text[position:start], replacement]
            position = end
        looked = end
        if time.perf_counter() > deadline:
            yield
            deadline = time.perf_counter() + STEP_SECONDS
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _hidden(value: Any, secrets: list[str] | None) -> tuple[str, bool]:
    """(the value as JSON with each scalar but null replaced and keys that are not a provider's name
    hidden, whether anything was)."""
    if value is None:
        return "null", False
    if isinstance(value, _Pairs):
        parts, changed = [], False
        for key, item in value:
            if not _KEPT_KEY.fullmatch(key) and key != PLACEHOLDER:
                if secrets is not None:
                    secrets.append(key)
                key, changed = PLACEHOLDER, True
            inner, hid = _hidden(item, secrets)
            parts.append(f"{json.dumps(key)}: {inner}")
            changed = changed or hid
        return "{" + ", ".join(parts) + "}", changed
    if isinstance(value, list):
        items = [_hidden(item, secrets) for item in value]
        return "[" + ", ".join(inner for inner, _ in items) + "]", any(hid for _, hid in items)
    if secrets is not None:
        secrets.append(value if isinstance(value, str) else json.dumps(value))
    return PLACEHOLDER_JSON, value != PLACEHOLDER


def _redact_rest(data: bytes, secrets: list[str] | None) -> bytes:
    """A body that is not JSON: everything from the first secret name's value on is hidden."""
    found = _FIRST_NAME.search(data)
    if found is None:
        return data
    start = found.end()
    if not found.group().endswith((b":", b" ", b"\t", b"\r", b"\n")):  # a bare name: its quote, `[...]`, `=`
        start = _AFTER_NAME.match(data, start).end()  # type: ignore[union-attr]
    rest = data[start:]
    if not rest.strip() or rest == PLACEHOLDER_JSON.encode("ascii"):
        return data
    if secrets is not None:
        secrets += _value_secrets(rest[:VALUE_WINDOW])
    return data[:start] + PLACEHOLDER_JSON.encode("ascii")


def _value_secrets(window: bytes) -> list[str]:
    """The strings and words of the value at the start of `window` (they are searched for elsewhere)."""
    found, depth = [], 0
    for token in _TOKEN.finditer(window):
        string, opened, closed, word = token.groups()
        if opened:
            depth += 1
        elif closed:
            depth -= 1
        elif string or word:
            raw = (string or word).decode("utf-8", "surrogateescape")
            try:
                found.append(json.loads(raw) if string else raw)
            except ValueError:
                found.append(raw.strip('"'))
        if depth <= 0 and token.group().strip() not in (b"", b":", b"=", b","):
            break
    return [text for text in found if isinstance(text, str)]
