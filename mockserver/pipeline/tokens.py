"""The mock's documented token count: a token is a run of word characters or one punctuation mark.

`"Hello, world!"` is 4 tokens. Usage, `max_tokens` cuts and stream chunking all use this count, so
they agree with each other (they do not try to match any provider's tokenizer). Word and space
characters are Unicode 14's (`mockserver.fixed_unicode`), not the running Python's, so the count is
the same on every interpreter.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

from mockserver.fixed_unicode import BMP_WORD_CLASS, SPACE_CLASS, is_word

# \w+|[^\w\s] with Unicode 14's classes, for text whose characters beyond the BMP were replaced (`_in_bmp`).
TOKEN = re.compile(f"[{BMP_WORD_CLASS}]+|[^{BMP_WORD_CLASS}{SPACE_CLASS}]")
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")
# Fixed cost of each chat message (role and framing), as providers charge something similar.
TOKENS_PER_MESSAGE = 4
# Texts up to this long are memoised (templates and generated answers come back on every call); the
# cache is outside the byte budget, so it holds at most 4,096 such texts (a few MiB).
CACHED_TEXT_CHARS = 1024

# For ASCII text the same count comes from byte operations, about 30 times faster than the regex on a
# long prompt: map each character to its class (word "a", space " ", anything else ","), then count
# punctuation and the starts of word runs. `re`'s \s also matches \x1c-\x1f, as str.isspace does.
_WORD = (string.ascii_letters + string.digits + "_").encode("ascii")
_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_CLASSES = bytes(
    ord("a") if byte in _WORD else ord(" ") if byte in _SPACE else ord(",") for byte in range(256)
)


def _count_ascii(text: str) -> int:
    classes = text.encode("ascii").translate(_CLASSES)
    word_runs = classes.count(b" a") + classes.count(b",a") + classes.startswith(b"a")
    return classes.count(b",") + word_runs


def _in_bmp(text: str) -> str:
    """`text` with each character beyond the BMP replaced by a word character (`a`) or a punctuation
    mark (`!`) as Unicode 14 classes it: the same tokens at the same offsets, for `TOKEN`."""
    if text.isascii() or max(text) <= "\uffff":
        return text
    return _BEYOND_BMP.sub(lambda found: "a" if is_word(found.group()) else "!", text)


def _count(text: str) -> int:
    return TOKEN.subn("", _in_bmp(text))[1]


@lru_cache(maxsize=4096)
def _count_short(text: str) -> int:
    return _count(text)


def count_tokens(text: str) -> int:
    """The number of tokens in `text` (`TOKEN` matches), without building a list of them."""
    if len(text) <= CACHED_TEXT_CHARS:
        return _count_short(text)
    return _count_ascii(text) if text.isascii() else _count(text)


def token_ends(text: str) -> list[int]:
    """The end offset of every token in `text`."""
    return [match.end() for match in TOKEN.finditer(_in_bmp(text))]


def cut_to_tokens(text: str, limit: int) -> tuple[str, bool]:
    """The first `limit` tokens of `text`, and whether anything was cut."""
    ends = token_ends(text)
    if len(ends) <= limit:
        return text, False
    return (text[: ends[limit - 1]] if limit > 0 else ""), True
